package kiln.tokenizer;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Streaming decode against the full decode: over every token prefix of every corpus string, and over random id
 * sequences that cut characters apart and produce invalid UTF-8 (where U+FFFD is legitimately in the full decode).
 */
class IncrementalDetokenizerTest {
    private final Tokenizer tok = Tokenizers.bundled();

    /**
     * Streams {@code ids}; after each token the text emitted so far must equal the full decode of the ids so far,
     * except for a character still missing bytes, which the full decode shows as one trailing U+FFFD.
     */
    private void assertStreamsLikeFullDecode(int[] ids, boolean skipSpecial, String label) {
        IncrementalDetokenizer stream = tok.newDetokenizer(skipSpecial);
        StringBuilder emitted = new StringBuilder();
        for (int k = 0; k < ids.length; k++) {
            emitted.append(stream.next(ids[k]));
            String prefixDecode = tok.decode(java.util.Arrays.copyOf(ids, k + 1), skipSpecial);
            String expected = stream.atCharacterBoundary() ? prefixDecode : prefixDecode.substring(0, prefixDecode.length() - 1);
            if (!stream.atCharacterBoundary()) assertTrue(prefixDecode.endsWith("\uFFFD"), label + ": held bytes but full decode shows no U+FFFD");
            assertEquals(expected, emitted.toString(), label + " after token " + k);
        }
        emitted.append(stream.finish());
        assertEquals(tok.decode(ids, skipSpecial), emitted.toString(), label + " at the end");
    }

    @Test
    void everyCorpusStringStreamsLikeItsFullDecode() {
        var rows = Reference.encodeRows();
        for (int i = 0; i < rows.size(); i++) {
            assertStreamsLikeFullDecode(rows.get(i).ids(), false, "row " + i);
            assertStreamsLikeFullDecode(rows.get(i).ids(), true, "row " + i + " (skip specials)");
        }
    }

    @Test
    void charactersSplitOverTokensWaitForTheirLastByte() {
        // "é" and "😀" as one byte-level token per byte: nothing is emitted until the character is complete.
        byte[] utf8 = "é😀".getBytes(StandardCharsets.UTF_8);
        IncrementalDetokenizer stream = tok.newDetokenizer(false);
        StringBuilder out = new StringBuilder();
        for (int k = 0; k < utf8.length; k++) {
            String piece = stream.next(byteToken(utf8[k] & 0xFF));
            assertEquals(k == 1 ? "é" : k == 5 ? "😀" : "", piece, "byte " + k);
            out.append(piece);
        }
        assertEquals("", stream.finish());
        assertEquals("é😀", out.toString());
    }

    @Test
    void randomIdSequencesStreamLikeTheirFullDecode() {
        Random random = new Random(42);
        int vocab = tok.vocabSize();
        for (int trial = 0; trial < 400; trial++) {
            int[] ids = new int[1 + random.nextInt(40)];
            for (int k = 0; k < ids.length; k++) {
                // Mostly single bytes (to break characters), some whole tokens, some special and unknown ids.
                int kind = random.nextInt(10);
                ids[k] = kind < 5 ? byteToken(0x80 + random.nextInt(0x80)) : kind < 8 ? random.nextInt(vocab)
                        : kind < 9 ? 128_800 + random.nextInt(15) : vocab + random.nextInt(100);
            }
            assertStreamsLikeFullDecode(ids, false, "trial " + trial);
            assertStreamsLikeFullDecode(ids, true, "trial " + trial + " (skip specials)");
        }
    }

    @Test
    void truncatedCharacterEndsAsOneReplacementCharacter() {
        byte[] euro = "€".getBytes(StandardCharsets.UTF_8);
        IncrementalDetokenizer stream = tok.newDetokenizer(false);
        assertEquals("", stream.next(byteToken(euro[0] & 0xFF)));
        assertEquals("", stream.next(byteToken(euro[1] & 0xFF)));
        assertEquals("\uFFFD", stream.finish());
        assertEquals("\uFFFD", tok.decode(new int[] {byteToken(euro[0] & 0xFF), byteToken(euro[1] & 0xFF)}, false));
    }

    /** The id of the byte-level token that stands for one byte. */
    private int byteToken(int b) {
        return tok.idOf(String.valueOf(byteLevelChar(b))).orElseThrow();
    }

    private static char byteLevelChar(int b) {
        return ByteLevel.charOf(b);
    }
}
