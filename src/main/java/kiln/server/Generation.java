package kiln.server;

import kiln.Log;
import kiln.engine.Output;
import kiln.engine.RequestHandle;
import kiln.engine.SamplingParams;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One engine request as an HTTP handler follows it: the outputs of each sample accumulated, latency observed for
 * the metrics, and the request cancelled if the handler leaves before it ended (client gone, error). Used by one
 * thread; always closed.
 */
final class Generation implements AutoCloseable {
    /** What one sample (of n) has produced so far. */
    static final class Sample {
        final int index;
        int[] ids = new int[16];
        int length;
        final StringBuilder text = new StringBuilder();
        final List<Output.TokenLogprob> logprobs = new ArrayList<>();
        List<Output.TokenLogprob> promptLogprobs = List.of();
        Output.FinishReason finish;
        int completionTokens, cachedTokens;
        /** Tokens (and text) appended since the route last sent this sample to the client. */
        int unsentTokens, sentLength, sentTextLength, sentLogprobs;
        long lastTokenNanos;

        Sample(int index) {
            this.index = index;
        }

        boolean finished() {
            return finish != null;
        }

        private void append(Output o) {
            if (ids.length < length + o.tokenIds().length) ids = Arrays.copyOf(ids, Math.max(ids.length * 2, length + o.tokenIds().length));
            System.arraycopy(o.tokenIds(), 0, ids, length, o.tokenIds().length);
            length += o.tokenIds().length;
            unsentTokens += o.tokenIds().length;
            if (o.text() != null) text.append(o.text()); // null without a tokenizer
            logprobs.addAll(o.logprobs());
            if (o.promptLogprobs() != null) promptLogprobs = o.promptLogprobs();
            completionTokens = o.completionTokens();
            cachedTokens = o.cachedTokens();
            if (o.finish() != null) finish = o.finish();
        }
    }

    final String id;
    final int promptTokens;
    final SamplingParams params;
    final Sample[] samples;
    private final Serving serving;
    private final RequestHandle handle;
    private final long arrivalNanos;
    private final boolean observe;
    private boolean firstToken = true, closed;

    Generation(Serving serving, RequestHandle handle, int promptTokens, SamplingParams params, long arrivalNanos, boolean observe) {
        this.serving = serving;
        this.handle = handle;
        this.id = handle.id();
        this.promptTokens = promptTokens;
        this.params = params;
        this.arrivalNanos = arrivalNanos;
        this.observe = observe;
        this.samples = new Sample[params.n()];
        for (int i = 0; i < samples.length; i++) samples[i] = new Sample(i);
        serving.opened(this);
    }

    /** The sample the next output belongs to, after folding it in; null once every sample has ended. */
    Sample next() throws InterruptedException {
        Output o = handle.next();
        return o == null ? null : fold(o);
    }

    /** As {@link #next}, waiting at most {@code timeout}; null also when nothing came in time (see {@link #ended}). */
    Sample poll(long timeout, TimeUnit unit) throws InterruptedException {
        Output o = handle.poll(timeout, unit);
        return o == null ? null : fold(o);
    }

    private Sample fold(Output o) {
        Sample s = samples[o.index()];
        s.append(o);
        long now = System.nanoTime();
        int tokens = o.tokenIds().length;
        if (observe && tokens > 0) {
            if (firstToken) serving.metrics.timeToFirstToken((now - arrivalNanos) / 1e9);
            else if (s.lastTokenNanos > 0) serving.metrics.interTokenLatency((now - s.lastTokenNanos) / 1e9, tokens);
        }
        if (tokens > 0) {
            firstToken = false;
            s.lastTokenNanos = now;
        }
        if (handle.ended()) finished(now);
        return s;
    }

    /** Waits for every sample to end. */
    Generation complete() throws InterruptedException {
        while (next() != null) {
            // folding outputs into the samples is all there is to do
        }
        return this;
    }

    boolean ended() {
        return handle.ended();
    }

    double elapsedSeconds() {
        return (System.nanoTime() - arrivalNanos) / 1e9;
    }

    int completionTokens() {
        int n = 0;
        for (Sample s : samples) n += s.completionTokens;
        return n;
    }

    int cachedTokens() {
        return samples[0].cachedTokens;
    }

    private void finished(long now) {
        if (observe) serving.metrics.e2eLatency((now - arrivalNanos) / 1e9);
        if (serving.options.logRequests()) {
            StringBuilder reasons = new StringBuilder();
            for (Sample s : samples) reasons.append(reasons.isEmpty() ? "" : ",").append(s.finish == null ? "?" : s.finish.type());
            Log.info("Finish: rid=%s, prompt_tokens=%d, completion_tokens=%d, finish=%s, e2e=%.3fs",
                    id, promptTokens, completionTokens(), reasons, (now - arrivalNanos) / 1e9);
        }
    }

    /** The first sample that the engine aborted for a reason other than the client asking, or null. */
    Output.FinishReason failure() {
        for (Sample s : samples) {
            if (s.finish != null && Aborts.isFailure(s.finish)) return s.finish;
        }
        return null;
    }

    /** Stops generation (from any thread); the samples end with "abort". */
    void cancel() {
        handle.cancel();
    }

    /** As {@link #cancel()}, for a reason the client did not give (a shutdown): {@code message} says what happened. */
    void cancel(String message) {
        handle.cancel(message);
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (!handle.ended()) handle.cancel();
        serving.closed(this);
    }
}
