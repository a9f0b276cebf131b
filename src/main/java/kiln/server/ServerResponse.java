package kiln.server;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Blocker;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;

/**
 * A response as Kiln's routes write it: a status, headers, then either one body ({@link #send}) or a stream
 * ({@link #outputStream}, for server-sent events). Writes block the calling (virtual) thread; a write the client is
 * no longer there to receive throws {@link Sse.ClientGone}.
 */
final class ServerResponse {
    private final Response response;
    private OutputStream stream;
    private boolean sent;

    ServerResponse(Response response) {
        this.response = response;
    }

    ServerResponse status(int code) {
        response.setStatus(code);
        return this;
    }

    /** Sets a header, replacing any earlier value. */
    ServerResponse header(String name, String value) {
        response.getHeaders().put(name, value);
        return this;
    }

    /** Whether the answer has been started (a body sent or a stream opened). */
    boolean isSent() {
        return sent;
    }

    void send() {
        send(new byte[0]);
    }

    /** Writes the whole body with its Content-Length and completes the response. */
    void send(byte[] body) {
        if (sent) throw new IllegalStateException("the response was already sent");
        sent = true;
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        try (Blocker.Callback done = Blocker.callback()) {
            response.write(true, ByteBuffer.wrap(body), done);
            done.block();
        } catch (IOException e) {
            throw new Sse.ClientGone(e);
        }
    }

    /**
     * The body as a stream (no Content-Length: chunked on HTTP/1.1, until the connection closes on HTTP/1.0);
     * buffered until {@code flush}, which writes to the client.
     */
    OutputStream outputStream() {
        if (sent) throw new IllegalStateException("the response was already sent");
        sent = true;
        stream = new BufferedOutputStream(Content.Sink.asOutputStream(response), 8192);
        return stream;
    }

    /** Ends the response after its route returned: closes an open stream, or sends an empty body if nothing was. */
    void finish() throws IOException {
        if (stream != null) stream.close();
        else if (!sent) send();
    }
}
