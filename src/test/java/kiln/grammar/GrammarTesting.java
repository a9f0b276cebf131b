package kiln.grammar;

import kiln.tokenizer.Tokenizer;
import kiln.tokenizer.Tokenizers;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * What the grammar tests share: DeepSeek's tokenizer and vocabulary (129,280 mask bits, as the model's logits
 * have), random walks through the masks, and the exhaustive check that a mask says of every token exactly what
 * accepting it would.
 */
final class GrammarTesting {
    private GrammarTesting() {}

    static final int DEEPSEEK_VOCAB = 129_280;
    static final Tokenizer TOKENIZER = Tokenizers.bundled();
    static final GrammarCompiler COMPILER = GrammarCompiler.of(TOKENIZER, DEEPSEEK_VOCAB);
    static final int EOS = TOKENIZER.eosIds().get(0);

    /**
     * Tokens a walk prefers: the structure of a document (punctuation; a single space or newline), ASCII of at most
     * three bytes without letters or digits, and JSON's null, true and false. Without the preference strings, numbers and runs of whitespace grow
     * for hundreds of tokens, since most of the vocabulary continues them.
     */
    private static final boolean[] STRUCTURAL = new boolean[DEEPSEEK_VOCAB];

    static {
        for (int id = 0; id < TOKENIZER.vocabSize(); id++) {
            if (TOKENIZER.isSpecial(id)) continue;
            byte[] b = TOKENIZER.tokenBytes(id);
            boolean ok = b.length > 0 && b.length <= 3, blank = true;
            for (byte x : b) {
                ok &= x > 0 && !Character.isLetterOrDigit(x);
                blank &= Character.isWhitespace(x);
            }
            String word = new String(b, java.nio.charset.StandardCharsets.UTF_8).strip();
            STRUCTURAL[id] = (ok && !(blank && b.length > 1)) || word.equals("null") || word.equals("true") || word.equals("false");
        }
    }

    /** Exhaustive mask checks per walk (each asks about all 129,280 tokens: about 10 ms). */
    static final int MAX_CHECKS = 40;

    /** A walk's tokens and whether it ended with an end token (else it ran into the length cap). */
    record Walk(int[] tokens, boolean ended) {
        byte[] bytes() {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (int t : tokens) if (t != EOS) out.writeBytes(TOKENIZER.tokenBytes(t));
            return out.toByteArray();
        }

        String text() {
            return new String(bytes(), StandardCharsets.UTF_8);
        }
    }

    /**
     * Samples a document as an unconstrained model at temperature 1 would under the masks: a random allowed token
     * at each step. Three draws in four are among the allowed structural tokens (so that strings close and documents
     * end within the cap); an allowed end token is taken with probability 1/4. Every drawn token must be
     * accepted; every {@code checkEvery} steps (0: never; at most MAX_CHECKS times) the whole mask is checked token by token.
     */
    static Walk randomWalk(CompiledGrammar g, long seed, int maxTokens, int checkEvery) {
        return randomWalk(g, seed, maxTokens, checkEvery, 0.75);
    }

    /** As above, drawing among the allowed structural tokens with probability {@code structural}. */
    static Walk randomWalk(CompiledGrammar g, long seed, int maxTokens, int checkEvery, double structural) {
        Random rng = new Random(seed);
        GrammarMatcher m = g.newMatcher();
        long[] mask = new long[g.maskWords()];
        int[] allowed = new int[DEEPSEEK_VOCAB], preferred = new int[DEEPSEEK_VOCAB];
        int[] out = new int[maxTokens + 1];
        int n = 0, checks = 0;
        for (int step = 0; step < maxTokens; step++) {
            m.fillMask(mask);
            if (checkEvery > 0 && step % checkEvery == 0 && checks++ < MAX_CHECKS) checkMaskExhaustively(m, mask, "step " + step);
            int na = 0, ns = 0;
            boolean endAllowed = false;
            for (int w = 0; w < mask.length; w++) {
                for (long bits = mask[w]; bits != 0; bits &= bits - 1) {
                    int id = (w << 6) + Long.numberOfTrailingZeros(bits);
                    if (id == EOS) {
                        endAllowed = true;
                        continue;
                    }
                    allowed[na++] = id;
                    if (STRUCTURAL[id]) preferred[ns++] = id;
                }
            }
            assertEquals(endAllowed, m.canTerminate(), "the end token's bit says what canTerminate says");
            if (na == 0 && !endAllowed) fail("empty mask after " + n + " tokens: " + new Walk(java.util.Arrays.copyOf(out, n), false).text());
            int pick;
            if (endAllowed && (na == 0 || rng.nextInt(4) == 0)) pick = EOS;
            else if (ns > 0 && rng.nextDouble() < structural) pick = preferred[rng.nextInt(ns)];
            else pick = allowed[rng.nextInt(na)];
            assertTrue(m.accept(pick), "a token of the mask is accepted");
            out[n++] = pick;
            if (pick == EOS) {
                assertTrue(m.isTerminated());
                return new Walk(java.util.Arrays.copyOf(out, n), true);
            }
        }
        return new Walk(java.util.Arrays.copyOf(out, n), false);
    }

    /** Every token: its bit in the mask is exactly whether the matcher would accept it now. */
    static void checkMaskExhaustively(GrammarMatcher m, long[] mask, String where) {
        for (int id = 0; id < DEEPSEEK_VOCAB; id++) {
            boolean bit = (mask[id >>> 6] & (1L << id)) != 0;
            if (bit != m.allows(id)) {
                fail(where + ": token " + id + " " + quoted(id) + " is " + (bit ? "in" : "not in") + " the mask but "
                        + (bit ? "rejected" : "accepted"));
            }
        }
    }

    static String quoted(int id) {
        return id < TOKENIZER.vocabSize() ? "'" + TOKENIZER.tokenText(id).replace("\n", "\\n") + "'" : "(padding id)";
    }

    /**
     * Feeds {@code text}'s tokens (DeepSeek's own tokenization) one by one, checking that each is in the mask
     * first. Returns the index of the first token refused, or -1 when all were accepted.
     */
    static int feed(GrammarMatcher m, int[] ids, long[] mask) {
        for (int i = 0; i < ids.length; i++) {
            m.fillMask(mask);
            boolean bit = (mask[ids[i] >>> 6] & (1L << ids[i])) != 0;
            boolean accepted = m.accept(ids[i]);
            assertEquals(bit, accepted, "mask bit and accept agree on token " + i + " " + quoted(ids[i]));
            if (!accepted) return i;
        }
        return -1;
    }

    static int[] encode(String text) {
        return TOKENIZER.encode(text, false);
    }

    /** The byte offset where token {@code index} of {@code ids} starts. */
    static int byteOffset(int[] ids, int index) {
        int off = 0;
        for (int i = 0; i < index; i++) off += TOKENIZER.tokenBytes(ids[i]).length;
        return off;
    }
}
