package kiln.engine;

/**
 * A request the engine refuses; {@code overloaded} means "try again later" (HTTP 503), otherwise it is invalid (400).
 * {@code field} names the request field at fault when there is one (e.g. "rid"), else null.
 */
public class EngineException extends RuntimeException {
    private final boolean overloaded;
    private final String field;

    public EngineException(String message, boolean overloaded) {
        this(message, overloaded, null);
    }

    public EngineException(String message, boolean overloaded, String field) {
        super(message);
        this.overloaded = overloaded;
        this.field = field;
    }

    public boolean overloaded() {
        return overloaded;
    }

    public String field() {
        return field;
    }
}
