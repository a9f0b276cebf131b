package kiln.tokenizer;

/** A tokenizer that cannot be loaded: missing file, malformed JSON, or a component Kiln does not implement. */
public final class TokenizerException extends RuntimeException {
    public TokenizerException(String message) {
        super(message);
    }

    public TokenizerException(String message, Throwable cause) {
        super(message, cause);
    }
}
