package kiln.engine;

import kiln.backend.Backend;
import kiln.backend.SampledIds;
import kiln.backend.Tensor;
import kiln.engine.StepPlanner.Entry;

import java.util.List;
import java.util.function.Function;

/**
 * Samples a step's tokens: on the backend ({@link Backend#argmax} or {@link Backend#sample}; only ids come back)
 * when every row of the step can be served there, else on the host with {@link Sampler} on the downloaded logits.
 * Counts where each step sampled.
 */
final class StepSampler {
    /** One sample to draw this step: the sequence (its params and random stream) and its row of the forward's logits. */
    record Draw(Sequence seq, int row) {}

    /** A step's logits: on the device, and on the host too ({@code host}) unless the step samples on the device. */
    record Logits(Tensor device, float[] host, int vocab) {
        boolean onDevice() {
            return host == null;
        }

        /** log softmax of row {@code row} at {@code token}, with the {@code top} most likely alternatives (host only). */
        Output.TokenLogprob logprob(int row, int token, int top) {
            return Sampler.logprob(host, row * vocab, vocab, token, top);
        }
    }

    private final Backend backend;
    private final boolean deviceSampling;
    private final int vocab;
    private final Function<Sequence, int[]> bannedNow;
    private final Counters counters;

    /** @param bannedNow tokens a sequence may not sample at this step (OutputEmitter: before min_new_tokens) */
    StepSampler(Backend backend, boolean deviceSampling, int vocab, Function<Sequence, int[]> bannedNow, Counters counters) {
        this.backend = backend;
        this.deviceSampling = deviceSampling;
        this.vocab = vocab;
        this.bannedNow = bannedNow;
        this.counters = counters;
    }

    /** The forward's logits, brought to the host unless every entry can be sampled on the device. */
    Logits logits(Tensor out, List<Entry> entries) {
        // a step that samples nothing still downloads its (usually empty) logits: that is where the host waits for the forward
        boolean samples = entries.stream().anyMatch(e -> e.samples() && e.seq().params().maxNewTokens() > 0);
        boolean onDevice = samples && deviceSampling && entries.stream().allMatch(this::deviceCanServe);
        float[] host = onDevice ? null : backend.download(out);
        if (onDevice) counters.deviceSampledSteps++;
        else if (entries.stream().anyMatch(e -> e.logitRows() > 0)) counters.hostSampledSteps++;
        return new Logits(out, host, vocab);
    }

    /**
     * Every draw's token, in order: on the device when the logits stayed there (returned before they reach the
     * host on a device that runs ahead), else on the host.
     */
    SampledIds sample(Logits logits, List<Draw> draws) {
        if (logits.onDevice()) return sampleOnDevice(logits.device(), draws);
        return SampledIds.ready(sampleOnHost(logits, draws));
    }

    private int[] sampleOnHost(Logits logits, List<Draw> draws) {
        int[] tokens = new int[draws.size()];
        for (int i = 0; i < tokens.length; i++) {
            Sequence q = draws.get(i).seq();
            SamplingParams p = q.params();
            tokens[i] = Sampler.sample(logits.host(), draws.get(i).row() * vocab, vocab, p, q.rng, q.outputCounts,
                    p.repetitionPenalty() != 1f ? q.allTokens() : new int[0], bannedNow.apply(q));
        }
        return tokens;
    }

    /**
     * Whether this entry's rows can be sampled by {@link Backend#sample}, which knows temperature, top-k and top-p
     * only. Anything else Sampler does needs the logits on the host: prompt or output logprobs (top_logprobs comes
     * with return_logprob), repetition / frequency / presence penalties, tokens banned before min_new_tokens,
     * min_p. A row that does not sample (mid-prompt chunk, max_new_tokens 0) needs nothing.
     *
     * <p>The choice is per step, all or nothing: one row that needs the host downloads the whole step's logits
     * (what every step did before), the others are then sampled on the host too, with the same math and the same
     * draw from their streams. Splitting a step (gatherRows for each side, two index maps) would save the download
     * only in mixed batches, while the common serving batch (plain temperature / top-p / top-k or greedy) stays on
     * the device either way.
     */
    private boolean deviceCanServe(Entry e) {
        if (e.promptLogprobPositions().length > 0) return false;
        return !e.samples() || samplesOnDevice(e.seq());
    }

    /**
     * Whether the sequence's next sample can be drawn on the device (see {@link #deviceCanServe}). Prompt logprobs
     * are not its concern: a prefill entry that takes them downloads its step's logits whatever this answers.
     */
    boolean samplesOnDevice(Sequence s) {
        SamplingParams p = s.params();
        return deviceSampling && (p.maxNewTokens() == 0 || !p.returnLogprob() && p.repetitionPenalty() == 1f && p.frequencyPenalty() == 0f
                && p.presencePenalty() == 0f && p.minP() == 0f && bannedNow.apply(s).length == 0);
    }

    /**
     * Every draw's token, sampled by the backend on the forward's logits: argmax when all are greedy, else one
     * {@code sample} call with each non-greedy row's uniform drawn from its own stream, as Sampler draws it.
     * top_k 1 goes as greedy (temperature 0): Sampler treats it so, while Backend.sample would keep tokens tied
     * with the best and pick among them.
     */
    private SampledIds sampleOnDevice(Tensor logits, List<Draw> draws) {
        int n = draws.size();
        if (n == 0) return SampledIds.ready(new int[0]);
        int[] rows = new int[n];
        boolean same = n == logits.rows();
        for (int i = 0; i < n; i++) same &= (rows[i] = draws.get(i).row()) == i;
        // n-siblings share their parent's row, and rows of max_new_tokens 0 are not sampled
        Tensor t = same ? logits : backend.gatherRows(logits, rows);
        if (draws.stream().allMatch(d -> d.seq().params().isGreedy())) return backend.argmaxAsync(t);
        float[] temperature = new float[n], topP = new float[n], uniform = new float[n];
        int[] topK = new int[n];
        for (int i = 0; i < n; i++) {
            Sequence q = draws.get(i).seq();
            SamplingParams p = q.params();
            topP[i] = 1f;
            if (p.isGreedy()) continue;
            temperature[i] = p.temperature();
            topK[i] = Math.max(p.topK(), 0);
            topP[i] = p.topP();
            uniform[i] = Sampler.uniform(q.rng);
        }
        return backend.sampleAsync(t, temperature, topK, topP, uniform);
    }
}
