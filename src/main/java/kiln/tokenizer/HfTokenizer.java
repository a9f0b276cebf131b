package kiln.tokenizer;

import kiln.chat.ChatTemplate;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * A HuggingFace byte-level BPE tokenizer. Encoding runs HF's pipeline: added tokens are cut out of the raw text
 * (those marked {@code normalized} after normalization), the rest is normalized, split by the pre-tokenizer's
 * regexes, and each piece's UTF-8 bytes are merged by {@link Bpe}. Decoding concatenates the tokens' bytes.
 */
final class HfTokenizer implements Tokenizer {
    /** Everything tokenizer.json and tokenizer_config.json say, checked and compiled by {@link TokenizerFiles}. */
    record Parts(
            Map<String, Integer> tokenToId,
            byte[][] tokenBytes,
            boolean[] special,
            AddedTokens rawAddedTokens,
            AddedTokens normalizedAddedTokens,
            Normalizer normalizer,
            List<Split> splits,
            boolean addPrefixSpace,
            Bpe bpe,
            int[] prefixIds,
            int[] suffixIds,
            String bosToken,
            String eosToken,
            int bosId,
            List<Integer> eosIds,
            ChatTemplate chatTemplate) {}

    private final Parts p;

    HfTokenizer(Parts parts) {
        this.p = parts;
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        IntList out = new IntList(text.length() / 3 + 8);
        if (addSpecialTokens) out.addAll(p.prefixIds());
        p.rawAddedTokens().split(text, out, this::encodeNormalized);
        if (addSpecialTokens) out.addAll(p.suffixIds());
        return out.toArray();
    }

    private void encodeNormalized(String text, int start, int end, IntList out) {
        if (p.normalizer() == null) {
            p.normalizedAddedTokens().split(text.substring(start, end), out, this::encodePlain);
        } else {
            p.normalizedAddedTokens().split(p.normalizer().apply(text.substring(start, end)), out, this::encodePlain);
        }
    }

    private void encodePlain(String text, int start, int end, IntList out) {
        if (p.addPrefixSpace() && text.charAt(start) != ' ') {
            text = " " + text.substring(start, end);
            start = 0;
            end = text.length();
        }
        IntList ranges = new IntList(8);
        ranges.add(start);
        ranges.add(end);
        for (Split split : p.splits()) {
            IntList next = new IntList(ranges.size() * 2);
            split.apply(text, ranges, next);
            ranges = next;
        }
        for (int r = 0; r < ranges.size(); r += 2) p.bpe().encodeWord(text.substring(ranges.get(r), ranges.get(r + 1)), out);
    }

    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        StringBuilder out = new StringBuilder(ids.length * 4);
        LossyUtf8 utf8 = new LossyUtf8(out);
        for (int id : ids) {
            byte[] bytes = bytesForDecode(id, skipSpecialTokens);
            if (bytes != null) utf8.accept(bytes);
        }
        utf8.finish();
        return out.toString();
    }

    /** A token's bytes as decode uses them, or null when the token is unknown or skipped. */
    byte[] bytesForDecode(int id, boolean skipSpecialTokens) {
        if (id < 0 || id >= p.tokenBytes().length) return null;
        if (skipSpecialTokens && p.special()[id]) return null;
        return p.tokenBytes()[id];
    }

    @Override
    public IncrementalDetokenizer newDetokenizer(boolean skipSpecialTokens) {
        return new IncrementalDetokenizer(id -> bytesForDecode(id, skipSpecialTokens));
    }

    @Override
    public int vocabSize() {
        return p.tokenBytes().length;
    }

    @Override
    public int bosId() {
        return p.bosId();
    }

    @Override
    public List<Integer> eosIds() {
        return p.eosIds();
    }

    @Override
    public Optional<String> bosToken() {
        return Optional.ofNullable(p.bosToken());
    }

    @Override
    public Optional<String> eosToken() {
        return Optional.ofNullable(p.eosToken());
    }

    @Override
    public String tokenText(int id) {
        return decode(new int[] {id}, false);
    }

    @Override
    public byte[] tokenBytes(int id) {
        byte[] bytes = bytesForDecode(id, false);
        return bytes == null ? new byte[0] : bytes.clone();
    }

    @Override
    public boolean isSpecial(int id) {
        return id >= 0 && id < p.special().length && p.special()[id];
    }

    @Override
    public OptionalInt idOf(String token) {
        Integer id = p.tokenToId().get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    @Override
    public Optional<ChatTemplate> chatTemplate() {
        return Optional.ofNullable(p.chatTemplate());
    }

    void clearCache() {
        p.bpe().clearCache();
    }

    @Override
    public String toString() {
        return "HfTokenizer[" + vocabSize() + " tokens]";
    }
}
