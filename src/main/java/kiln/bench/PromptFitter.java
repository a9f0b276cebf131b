package kiln.bench;

import kiln.tokenizer.Tokenizer;

import java.util.Arrays;
import java.util.function.IntUnaryOperator;

/**
 * Builds prompts of an exact token length from an endless source of token ids. Token ids ({@code --tokenize-prompt})
 * are exact by construction. Text is not: decoding a cut of ids and encoding the text again merges tokens across
 * the cuts, splits broken UTF-8, and the server adds BOS. sglang.bench_serving ignores that drift and reports the
 * drawn length; Kiln fits the text instead (decode, re-encode, trim or extend with further source tokens, repeat),
 * so that the server, encoding it with special tokens as it does, sees exactly the drawn number of tokens and
 * "Total input tokens" is what the server computed.
 */
final class PromptFitter {
    /** Decode/encode rounds before giving up; two or three suffice for real text, a few more for random ids. */
    private static final int MAX_ROUNDS = 12;

    /** A text prompt and its length as the tokenizer counts it with special tokens. */
    record Fitted(String text, int tokens) {}

    private final Tokenizer tok;
    /** What encode(text, true) puts in front of the text's own tokens (BOS, for DeepSeek and Llama). */
    private final int[] prefix;
    /** How many tokens encode(text, true) adds in all (the prefix, and a suffix for tokenizers that append EOS). */
    private final int added;

    PromptFitter(Tokenizer tok) {
        this.tok = tok;
        int[] with = tok.encode("a", true), without = tok.encode("a", false);
        this.added = Math.max(0, with.length - without.length);
        int p = 0;
        while (p < added && p < with.length && (without.length == 0 || with[p] != without[0])) p++;
        this.prefix = Arrays.copyOf(with, p);
    }

    /** Token ids of length {@code len}: the tokenizer's special prefix, then the source's tokens from its start. */
    int[] ids(IntUnaryOperator source, int len) {
        int[] ids = new int[len];
        int p = Math.min(prefix.length, len);
        System.arraycopy(prefix, 0, ids, 0, p);
        for (int j = p; j < len; j++) ids[j] = source.applyAsInt(j - p);
        return ids;
    }

    /**
     * Text from the source's tokens that encodes, with special tokens, to {@code len} tokens. When no text fits
     * (a length below what the tokenizer adds by itself, or gibberish ids that never settle) the closest text is
     * returned with its real count, so the caller reports what the server will see.
     */
    Fitted text(IntUnaryOperator source, int len) {
        return fit(source, Math.max(1, len - added)); // never an empty prompt: servers refuse those
    }

    /** Text from the source's tokens that encodes, without special tokens, to {@code len} tokens (or the closest). */
    Fitted content(IntUnaryOperator source, int len) {
        return len == 0 ? new Fitted("", added) : fit(source, len);
    }

    private Fitted fit(IntUnaryOperator source, int target) {
        int[] ids = new int[target];
        for (int j = 0; j < target; j++) ids[j] = source.applyAsInt(j);
        int next = target;
        String best = null;
        int bestLength = -1;
        for (int round = 0; round < MAX_ROUNDS; round++) {
            String text = tok.decode(ids, false);
            int[] again = tok.encode(text, false);
            if (best == null || Math.abs(again.length - target) < Math.abs(bestLength - target)) {
                best = text;
                bestLength = again.length;
            }
            if (again.length == target || again.length == 0) break;
            ids = Arrays.copyOf(again, target); // trim, or make room for further source tokens
            for (int j = again.length; j < target; j++) ids[j] = source.applyAsInt(next++);
        }
        return new Fitted(best, bestLength + added);
    }
}
