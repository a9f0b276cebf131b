package kiln.server;

/**
 * A request the server answers with an OpenAI-style error body:
 * {@code {"error": {"message", "type", "param", "code"}}} and the given HTTP status.
 */
public final class ApiException extends RuntimeException {
    private final int status;
    private final String type;
    private final String param;
    private final String code;
    private final Integer retryAfterSeconds;

    public ApiException(int status, String type, String message, String param, String code, Integer retryAfterSeconds) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** 400: the request is malformed or asks for something invalid; {@code param} names the offending field. */
    public static ApiException badRequest(String message, String param) {
        return new ApiException(400, "invalid_request_error", message, param, null, null);
    }

    public static ApiException unauthorized() {
        return new ApiException(401, "invalid_request_error",
                "invalid or missing API key: send it as 'Authorization: Bearer <key>'", null, "invalid_api_key", null);
    }

    public static ApiException notFound(String message, String code) {
        return new ApiException(404, "invalid_request_error", message, null, code, null);
    }

    /** 503 with Retry-After: the server is busy (queue full, starting, draining); the client should retry. */
    public static ApiException unavailable(String message, int retryAfterSeconds) {
        return new ApiException(503, "server_error", message, null, "service_unavailable", retryAfterSeconds);
    }

    public static ApiException internal(String message) {
        return new ApiException(500, "server_error", message, null, null, null);
    }

    public int status() {
        return status;
    }

    public String type() {
        return type;
    }

    public String param() {
        return param;
    }

    public String code() {
        return code;
    }

    public Integer retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
