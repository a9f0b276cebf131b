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
 *
 * <p>Under the overlapped scheduler the newest output tokens may not be known yet:
 * <pre>
 *   0            promptLength                      settled                 length
 *   |-- prompt ----|-- output the host has seen ----|-- sampled, unsettled --|
 *                                                     placeholders (at most two: the step in flight and the one
 *                                                     launched after it) that {@link #append} fills in order
 * </pre>
 * The newest placeholder's id is row {@link #futureRow} of the in-flight step's samples, which the next forward
 * reads on the device.
 */
final class Sequence {
    final Request request;
    final int index;
    final int promptLength;
    final long arrivalNanos;
    final Random rng;
    final Map<Integer, Integer> outputCounts = new HashMap<>();
    final List<Output.TokenLogprob> promptLogprobs = new ArrayList<>();

    /** The placeholder of a token sampled but not yet seen by the host. */
    static final int UNSETTLED = -1;

    int[] tokens;
    int length;
    /** Tokens [0, settled) are known on the host; [settled, length) are placeholders. */
    int settled;
    /** The row of the in-flight step's samples that holds the newest placeholder's id. */
    int futureRow = -1;
    /** Finished or aborted: a step still in flight that fed it has its sample dropped. */
    boolean ended;
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
        this.settled = promptLength;
        this.arrivalNanos = System.nanoTime();
    }

    SamplingParams params() {
        return request.params();
    }

    /** Output tokens, sampled ones not yet settled included (what the step being planned extends). */
    int outputLength() {
        return length - promptLength;
    }

    /** Output tokens the host has seen (what finish reasons and usage count). */
    int settledOutputLength() {
        return settled - promptLength;
    }

    boolean hasUnsettled() {
        return settled < length;
    }

    /** Appends a sampled token: into the oldest placeholder when there is one. */
    void append(int token) {
        if (settled == length) {
            if (length == tokens.length) tokens = Arrays.copyOf(tokens, tokens.length * 2);
            length++;
        }
        tokens[settled++] = token;
        outputCounts.merge(token, 1, Integer::sum);
    }

    /** Holds a place for a token sampled into row {@code row} of a step whose ids the host has not read yet. */
    void reserve(int row) {
        if (length == tokens.length) tokens = Arrays.copyOf(tokens, tokens.length * 2);
        tokens[length++] = UNSETTLED;
        futureRow = row;
    }

    /** Forgets the placeholders (the sample ended before their steps were applied). */
    void dropUnsettled() {
        length = settled;
        futureRow = -1;
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
