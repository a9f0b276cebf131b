package kiln.tokenizer;

import java.util.List;

/**
 * Text to token ids and back, exactly as HuggingFace tokenizers does for the model's tokenizer.json.
 * Implementations are immutable and safe to share between threads.
 */
public interface Tokenizer {
    /** Ids of {@code text}; with {@code addSpecialTokens}, BOS/EOS as tokenizer_config.json asks. */
    int[] encode(String text, boolean addSpecialTokens);

    /** Text of {@code ids}; special tokens left out when {@code skipSpecialTokens}. */
    String decode(int[] ids, boolean skipSpecialTokens);

    /** Number of ids, added tokens included. */
    int vocabSize();

    /** The BOS id, or -1. */
    int bosId();

    /** End-of-sequence ids declared by the tokenizer config. */
    List<Integer> eosIds();
}
