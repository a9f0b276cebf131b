package kiln.config;

/** A config.json or flag combination Kiln cannot use; the message says which file or flag. */
public class ConfigException extends RuntimeException {
    public ConfigException(String message) {
        super(message);
    }

    public ConfigException(String message, Throwable cause) {
        super(message, cause);
    }
}
