package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * A server-sent event stream as SGLang and OpenAI write it: {@code data: <json>\n\n} per event, then
 * {@code data: [DONE]\n\n}, with the space after {@code data:} that SGLang's clients strip as a fixed prefix. Each
 * event is flushed at once; a write that fails means the client has gone and surfaces as {@link ClientGone}.
 */
final class Sse implements AutoCloseable {
    private static final byte[] DATA = "data: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] END = "\n\n".getBytes(StandardCharsets.US_ASCII);

    /** The client closed the connection while an answer was being written. */
    static final class ClientGone extends RuntimeException {
        ClientGone(Throwable cause) {
            super("the client disconnected", cause, false, false);
        }
    }

    private final OutputStream out;

    Sse(ServerResponse res) {
        res.status(200);
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
            // a response whose connection has already failed may refuse further writes unchecked
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
