package kiln.engine;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Sampled tokens to each request's stream of {@link Output}s: when a token ends its sample (EOS, a stop token, a
 * stop string met by the streamed text, max_new_tokens, the context length), the text it adds, and delivery to the
 * request's handle. Also which tokens may not be sampled yet (min_new_tokens). Owned by the scheduler thread.
 */
final class OutputEmitter {
    /** A sampled token as it streams: its logprob when asked, the text it adds, and the finish it causes (or null). */
    record Emitted(int token, Output.TokenLogprob logprob, String text, Output.FinishReason finish) {}

    private final Set<Integer> eosIds;
    private final int contextLength;
    private final Counters counters;
    private final Map<String, RequestHandle> handles = new HashMap<>();
    /** Samples of each request that have not sent their final output yet. */
    private final Map<String, Integer> unfinished = new HashMap<>();

    OutputEmitter(Set<Integer> eosIds, int contextLength, Counters counters) {
        this.eosIds = Set.copyOf(eosIds);
        this.contextLength = contextLength;
        this.counters = counters;
    }

    /** Starts a request's stream: its handle gets every output until all {@code n} samples have ended. */
    void open(Request r, RequestHandle h) {
        handles.put(r.id(), h);
        unfinished.put(r.id(), r.params().n());
    }

    /** Counts one sample of the request as ended; true when it was the last (the stream is then closed). */
    boolean sampleEnded(String requestId) {
        if (unfinished.merge(requestId, -1, Integer::sum) != 0) return false;
        unfinished.remove(requestId);
        handles.remove(requestId);
        return true;
    }

    /**
     * Appends a sampled token and decides whether it streams on or ends the sample (stop token, the end of its
     * grammar, stop string, length). A grammar that ends ends the sample with "stop" even at max_new_tokens.
     */
    Emitted accept(Sequence q, int token, Output.TokenLogprob lp, boolean grammarEnded) {
        q.append(token);
        counters.generationTokens++;
        Output.FinishReason reason = finishReason(q, token, grammarEnded);
        // a stop token ends the text without appearing in it; otherwise the token's text may meet a stop string
        String text = q.text == null || reason != null && reason.matched() instanceof Integer ? "" : q.text.add(token);
        if (reason == null && q.text != null && q.text.matchedStop() != null) reason = Output.FinishReason.stop(q.text.matchedStop());
        return new Emitted(token, lp, text, reason);
    }

    /** EOS and stop tokens while the sample is shorter than min_new_tokens. */
    int[] bannedNow(Sequence q) {
        return q.outputLength() < q.params().minNewTokens() ? bannedBeforeMin(q.params()) : new int[0];
    }

    private int[] bannedBeforeMin(SamplingParams p) {
        List<Integer> b = new ArrayList<>(p.stopTokenIds());
        if (!p.ignoreEos()) b.addAll(eosIds);
        return b.stream().mapToInt(Integer::intValue).toArray();
    }

    private Output.FinishReason finishReason(Sequence s, int token, boolean grammarEnded) {
        SamplingParams p = s.params();
        if (!p.ignoreEos() && eosIds.contains(token)) return Output.FinishReason.stop(token);
        if (p.stopTokenIds().contains(token)) return Output.FinishReason.stop(token);
        if (grammarEnded) return eosIds.contains(token) ? Output.FinishReason.stop(token) : Output.FinishReason.stop(null);
        if (s.settledOutputLength() >= p.maxNewTokens()) return Output.FinishReason.length();
        if (s.settled >= contextLength) return Output.FinishReason.length();
        return null;
    }

    /**
     * Sends one output of the sample: token {@code e} (none when null), and with {@code finish} the sample's last,
     * carrying the text still held back. The first output of a sample carries its prompt logprobs when asked.
     */
    void emit(Sequence s, Emitted e, Output.FinishReason finish) {
        RequestHandle h = handles.get(s.request.id());
        if (h == null) return;
        List<Output.TokenLogprob> promptLp = null;
        if (!s.sentFirst) {
            s.sentFirst = true;
            s.firstTokenNanos = System.nanoTime();
            if (s.wantsPromptLogprobs()) {
                promptLp = new ArrayList<>();
                if (s.params().logprobStartLen() == 0) promptLp.add(new Output.TokenLogprob(s.tokens[0], null, new int[0], new float[0]));
                promptLp.addAll(s.promptLogprobs);
            }
        }
        String text = null;
        if (s.text != null) text = (e == null ? "" : e.text()) + (finish != null ? s.text.finish() : "");
        h.deliver(new Output(s.request.id(), s.index, e == null ? new int[0] : new int[]{e.token()}, text,
                e == null || e.logprob() == null ? List.of() : List.of(e.logprob()), promptLp, finish,
                s.promptLength, s.settledOutputLength(), Math.max(0, s.cachedTokens)));
    }
}
