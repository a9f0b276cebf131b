package kiln.bench;

import kiln.tokenizer.Tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * A trivial tokenizer, kept on purpose for {@link ClientCostMain} only: one token per UTF-8 byte (a byte-level BPE
 * with no merges), vocabulary 256, no special tokens. That measurement is the client's cost per streamed token;
 * with the real tokenizer it would also carry one-off costs that are not per token (loading the 7.8 MB
 * tokenizer.json, retokenizing every answer after the run). The tests use the real, bundled tokenizer.
 */
final class Utf8ByteTokenizer implements Tokenizer {
    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[b.length];
        for (int i = 0; i < b.length; i++) ids[i] = b[i] & 0xFF;
        return ids;
    }

    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        byte[] b = new byte[ids.length];
        for (int i = 0; i < ids.length; i++) b[i] = (byte) ids[i];
        return new String(b, StandardCharsets.UTF_8);
    }

    @Override
    public int vocabSize() {
        return 256;
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
