package kiln.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * One sample being generated (a request with n > 1 has n): its tokens (prompt, then output) and the KV slots of the
 * tokens computed so far ({@link #kv}: which of them are the radix tree's and which its own is drawn in
 * {@link KvSlots}, the only code that changes them). Owned by the scheduler thread.
 */
final class Sequence {
    final Request request;
    final int index;
    final int promptLength;
    final long arrivalNanos;
    final Random rng;
    final Map<Integer, Integer> outputCounts = new HashMap<>();
    final List<Output.TokenLogprob> promptLogprobs = new ArrayList<>();

    int[] tokens;
    int length;
    final KvSlots.Held kv = new KvSlots.Held();
    /** Prompt tokens served from the radix cache at first admission (reported as cached_tokens). */
    int cachedTokens = -1;
    /** Siblings to fork from this one's prefill (n > 1 with the radix cache on). */
    int pendingSiblings;
    /** Streamed text, when the engine has a tokenizer. */
    TextStream text;
    boolean sentFirst;
    /** Holds its place (and its pending siblings') in the admission queue until it first starts or ends. */
    boolean queued = true;
    long firstTokenNanos;

    final long baseSeed;
    /** Where the sample stands in its grammar (structured output); null without one. */
    GrammarState grammar;

    /** Sample {@code index} draws from its own stream, seeded with baseSeed + index. */
    Sequence(Request request, int index, long baseSeed) {
        this.request = request;
        this.index = index;
        this.baseSeed = baseSeed;
        this.rng = new Random(baseSeed + index);
        this.promptLength = request.promptIds().length;
        this.tokens = Arrays.copyOf(request.promptIds(), promptLength + Math.min(request.params().maxNewTokens(), 1 << 16) + 1);
        this.length = promptLength;
        this.arrivalNanos = System.nanoTime();
    }

    SamplingParams params() {
        return request.params();
    }

    int outputLength() {
        return length - promptLength;
    }

    void append(int token) {
        if (length == tokens.length) tokens = Arrays.copyOf(tokens, tokens.length * 2);
        tokens[length++] = token;
        outputCounts.merge(token, 1, Integer::sum);
    }

    /** Tokens whose KV is still to be computed: the prompt (and output, after a retraction), or the last sample. */
    int pending() {
        return length - kv.computed();
    }

    /** Prompt and output so far (what the repetition penalty looks at). */
    int[] allTokens() {
        return Arrays.copyOf(tokens, length);
    }

    boolean wantsPromptLogprobs() {
        return params().returnLogprob() && params().logprobStartLen() >= 0 && params().logprobStartLen() < promptLength;
    }
}
