package kiln.bench;

/** A benchmark that cannot go on (server unreachable, warmup failed, bad dataset file): one clear line for the user. */
public final class BenchException extends RuntimeException {
    public BenchException(String message) {
        super(message);
    }

    public BenchException(String message, Throwable cause) {
        super(message, cause);
    }
}
