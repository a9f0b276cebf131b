package kiln.tokenizer;

import java.util.List;
import java.util.Locale;

/** The normalizers of tokenizer.json that byte-level BPE tokenizers use (Qwen2: NFC; DeepSeek: an empty sequence). */
sealed interface Normalizer {
    String apply(String text);

    /** NFC, NFD, NFKC or NFKD. */
    record Unicode(java.text.Normalizer.Form form) implements Normalizer {
        @Override
        public String apply(String text) {
            return java.text.Normalizer.normalize(text, form);
        }
    }

    record Lowercase() implements Normalizer {
        @Override
        public String apply(String text) {
            return text.toLowerCase(Locale.ROOT);
        }
    }

    record Sequence(List<Normalizer> steps) implements Normalizer {
        @Override
        public String apply(String text) {
            for (Normalizer n : steps) text = n.apply(text);
            return text;
        }
    }
}
