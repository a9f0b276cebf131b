package kiln.engine;

/** A request the engine refuses; {@code overloaded} means "try again later" (HTTP 503), otherwise it is invalid (400). */
public class EngineException extends RuntimeException {
    private final boolean overloaded;

    public EngineException(String message, boolean overloaded) {
        super(message);
        this.overloaded = overloaded;
    }

    public boolean overloaded() {
        return overloaded;
    }
}
