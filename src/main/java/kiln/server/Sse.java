package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import io.helidon.http.Status;
import io.helidon.webserver.http.ServerResponse;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * A server-sent event stream as SGLang and OpenAI write it: {@code data: <json>\n\n} per event, then
 * {@code data: [DONE]\n\n}. (Helidon's SSE sink writes {@code data:} without the space, which SGLang's clients
 * strip as a fixed prefix, so events are written here directly.) Each event is flushed at once; a write that fails
 * means the client has gone and surfaces as {@link ClientGone}.
 */
final class Sse implements AutoCloseable {
    private static final byte[] DATA = "data: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] END = "\n\n".getBytes(StandardCharsets.US_ASCII);

    /** The client closed the connection while events were being written. */
    static final class ClientGone extends RuntimeException {
        ClientGone(Throwable cause) {
            super("the client disconnected", cause, false, false);
        }
    }

    private final OutputStream out;

    Sse(ServerResponse res) {
        res.status(Status.OK_200);
        res.header("Content-Type", "text/event-stream; charset=utf-8");
        res.header("Cache-Control", "no-cache");
        this.out = res.outputStream();
    }

    void event(JsonNode data) {
        write(Json.bytes(data));
    }

    void done() {
        write("[DONE]".getBytes(StandardCharsets.US_ASCII));
    }

    private void write(byte[] payload) {
        try {
            out.write(DATA);
            out.write(payload);
            out.write(END);
            out.flush();
        } catch (IOException | UncheckedIOException e) {
            throw new ClientGone(e);
        } catch (RuntimeException e) {
            // Helidon reports a closed socket as its own ServerConnectionException (or similar) from write/flush
            throw new ClientGone(e);
        }
    }

    @Override
    public void close() {
        try {
            out.close();
        } catch (IOException | RuntimeException e) {
            // the client is gone; nothing left to tell it
        }
    }
}
