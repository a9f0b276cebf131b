package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
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
    static Route guarded(Route route) {
        return (req, res) -> {
            try {
                route.handle(req, res);
            } catch (ApiException e) {
                if (!res.isSent()) sendError(res, e);
            } catch (Sse.ClientGone e) {
                // the client closed the connection; its request was cancelled where it was being followed
            } catch (Exception e) {
                // the details go to the log, not to the client
                Log.warn("%s %s failed: %s", req.method(), req.rawPath(), e);
                if (!res.isSent()) sendError(res, ApiException.internal("internal server error (the server's log has the details)"));
            }
        };
    }

    static ObjectNode body(ServerRequest req) {
        return Json.parseObject(req.body());
    }

    static void sendJson(ServerResponse res, int status, JsonNode body) {
        res.status(status);
        res.header("Content-Type", JSON);
        res.send(Json.bytes(body));
    }

    static void sendText(ServerResponse res, int status, String text) {
        res.status(status);
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
