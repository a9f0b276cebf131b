package kiln.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The interface's defaults let a minimal implementation (one token per code point here) stream and answer lookups. */
class TokenizerDefaultsTest {
    static final class CodePoints implements Tokenizer {
        @Override
        public int[] encode(String text, boolean addSpecialTokens) {
            return text.codePoints().toArray();
        }

        @Override
        public String decode(int[] ids, boolean skipSpecialTokens) {
            return new String(ids, 0, ids.length);
        }

        @Override
        public int vocabSize() {
            return Character.MAX_CODE_POINT + 1;
        }

        @Override
        public int bosId() {
            return -1;
        }

        @Override
        public List<Integer> eosIds() {
            return List.of();
        }
    }

    @Test
    void defaultsWork() {
        Tokenizer tok = new CodePoints();
        String text = "naïve 日本 😀";
        IncrementalDetokenizer stream = tok.newDetokenizer(true);
        StringBuilder out = new StringBuilder();
        for (int id : tok.encode(text, false)) out.append(stream.next(id));
        out.append(stream.finish());
        assertEquals(text, out.toString());
        assertEquals("😀", tok.tokenText(0x1F600));
        assertArrayEquals("日".getBytes(java.nio.charset.StandardCharsets.UTF_8), tok.tokenBytes('日'));
        assertTrue(tok.chatTemplate().isEmpty() && tok.bosToken().isEmpty() && tok.idOf("x").isEmpty() && !tok.isSpecial(0));
    }
}
