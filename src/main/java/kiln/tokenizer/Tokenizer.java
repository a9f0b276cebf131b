package kiln.tokenizer;

import kiln.chat.ChatTemplate;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * Text to token ids and back, exactly as HuggingFace tokenizers does for the model's tokenizer.json.
 * Implementations are immutable and safe to share between threads. The lookups beyond encode/decode have defaults
 * so that a simple implementation (a test double) needs only the first five methods; a tokenizer whose tokens can
 * split a character must override {@link #tokenBytes}, which streaming decode is built on.
 */
public interface Tokenizer {
    /**
     * Ids of {@code text}; with {@code addSpecialTokens}, BOS/EOS as tokenizer_config.json asks. Added tokens in the
     * text (special or not, e.g. {@code <｜User｜>}) are recognised, as HF does; a rendered chat prompt, which already
     * holds its BOS text, is encoded with {@code addSpecialTokens = false}.
     */
    int[] encode(String text, boolean addSpecialTokens);

    /** Text of {@code ids}; special tokens left out when {@code skipSpecialTokens}. Unknown ids are skipped. */
    String decode(int[] ids, boolean skipSpecialTokens);

    /** A streaming decoder for one sequence (see {@link IncrementalDetokenizer}). */
    default IncrementalDetokenizer newDetokenizer(boolean skipSpecialTokens) {
        return new IncrementalDetokenizer(id -> skipSpecialTokens && isSpecial(id) ? null : tokenBytes(id));
    }

    /** Number of ids, added tokens included. */
    int vocabSize();

    /** The BOS id, or -1. */
    int bosId();

    /** End-of-sequence ids declared by the tokenizer config. */
    List<Integer> eosIds();

    /** The BOS token's text (e.g. {@code <｜begin▁of▁sentence｜>}), if the config names one. */
    default Optional<String> bosToken() {
        return Optional.empty();
    }

    /** The EOS token's text, if the config names one. */
    default Optional<String> eosToken() {
        return Optional.empty();
    }

    /**
     * The text of one token alone, as {@code decode(new int[]{id}, false)} gives it: for logprob entries. A token
     * that is part of a multi-byte character shows U+FFFD; {@link #tokenBytes} has its exact bytes.
     */
    default String tokenText(int id) {
        return decode(new int[] {id}, false);
    }

    /** The UTF-8 bytes a token stands for (OpenAI's logprob {@code bytes}); empty for unknown ids. */
    default byte[] tokenBytes(int id) {
        return tokenText(id).getBytes(StandardCharsets.UTF_8);
    }

    /** True for added tokens marked special (BOS, EOS, padding...): the ones {@code skipSpecialTokens} drops. */
    default boolean isSpecial(int id) {
        return false;
    }

    /** The id of a vocabulary entry as tokenizer.json writes it ({@code Ġthe}) or of an added token ({@code </think>}). */
    default OptionalInt idOf(String token) {
        return OptionalInt.empty();
    }

    /** The model's chat template (tokenizer_config.json's {@code chat_template}, or chat_template.jinja). */
    default Optional<ChatTemplate> chatTemplate() {
        return Optional.empty();
    }
}
