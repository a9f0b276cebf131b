package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.helidon.http.RequestException;
import io.helidon.http.Status;
import io.helidon.webserver.http.Handler;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import kiln.Log;

/** Plumbing shared by the routes: reading JSON bodies, writing JSON and error responses, and the error boundary. */
final class Http {
    private Http() {}

    static final String JSON = "application/json";

    @FunctionalInterface
    interface Route {
        void handle(ServerRequest req, ServerResponse res) throws Exception;
    }

    /**
     * Wraps a route so that nothing escapes it: API errors become their OpenAI-style body, a vanished client ends
     * quietly, anything else is logged and answered with a 500 (unless the response already started).
     */
    static Handler guarded(Route route) {
        return (req, res) -> {
            try {
                route.handle(req, res);
            } catch (ApiException e) {
                if (!res.isSent()) sendError(res, e);
            } catch (RequestException e) {
                throw e; // an HTTP-level refusal: Helidon answers it through the direct handlers (HttpEdge)
            } catch (Sse.ClientGone e) {
                // the client closed the connection; its request was cancelled where it was being followed
            } catch (Exception e) {
                // the details go to the log, not to the client
                Log.warn("%s %s failed: %s", req.prologue().method().text(), req.path().rawPath(), e);
                if (!res.isSent()) sendError(res, ApiException.internal("internal server error (the server's log has the details)"));
            }
        };
    }

    static ObjectNode body(ServerRequest req) {
        byte[] bytes;
        try {
            bytes = req.content().hasEntity() ? req.content().as(byte[].class) : new byte[0];
        } catch (RequestException e) {
            throw e; // Helidon's own answer (413 for a chunked body past the limit), written by its direct handlers
        } catch (RuntimeException e) {
            // Helidon reports a malformed chunked body (a chunk size that is not hex, a missing CRLF) as a plain
            // runtime exception: the client sent something that is not HTTP
            throw new ApiException(400, "invalid_request_error", "the request body could not be read: malformed chunked "
                    + "encoding, or the body ended early", null, "malformed_body", null);
        }
        return Json.parseObject(bytes);
    }

    static void sendJson(ServerResponse res, int status, JsonNode body) {
        res.status(Status.create(status));
        res.header("Content-Type", JSON);
        res.send(Json.bytes(body));
    }

    static void sendText(ServerResponse res, int status, String text) {
        res.status(Status.create(status));
        res.header("Content-Type", "text/plain; charset=utf-8");
        res.send(text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    static void sendError(ServerResponse res, ApiException e) {
        if (e.retryAfterSeconds() != null) res.header("Retry-After", String.valueOf(e.retryAfterSeconds()));
        sendJson(res, e.status(), errorBody(e));
    }

    static ObjectNode errorBody(ApiException e) {
        ObjectNode error = Json.object();
        error.put("message", e.getMessage());
        error.put("type", e.type());
        error.put("param", e.param());
        if (e.code() != null) error.put("code", e.code());
        else error.put("code", e.status());
        ObjectNode body = Json.object();
        body.set("error", error);
        return body;
    }
}
