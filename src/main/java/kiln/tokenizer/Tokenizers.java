package kiln.tokenizer;

import java.nio.file.Path;

/** Where tokenizers come from: a HuggingFace model directory, or the DeepSeek tokenizer bundled with Kiln. */
public final class Tokenizers {
    private Tokenizers() {}

    /** The tokenizer of {@code dir} (tokenizer.json + tokenizer_config.json). */
    public static Tokenizer load(Path dir) {
        throw new UnsupportedOperationException("tokenizer loading is not built yet (issue 3)");
    }

    /** DeepSeek-V3/R1's tokenizer, shipped inside Kiln for the default model and the benchmark. */
    public static Tokenizer bundled() {
        throw new UnsupportedOperationException("the bundled tokenizer is not built yet (issue 3)");
    }
}
