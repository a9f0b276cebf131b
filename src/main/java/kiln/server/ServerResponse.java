package kiln.server;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A response as Kiln's routes write it: a status, headers, then either one body ({@link #send}) or a stream
 * ({@link #outputStream}, for server-sent events). Writes block the calling (virtual) thread; a write the client is
 * no longer there to receive throws {@link Sse.ClientGone}, and so does one it does not take within the stall
 * timeout (plus a second per {@link #WRITE_RATE} bytes), after which the connection is closed.
 */
final class ServerResponse {
    /** Bytes per second a client must take, past the stall timeout, of a large body. */
    static final long WRITE_RATE = 64 << 10;

    private final Response response;
    private final Duration stall;
    private final Runnable closeConnection;
    private OutputStream stream;
    private boolean sent;

    /**
     * @param stall           how long a write may wait on the client
     * @param closeConnection closes the connection when a write has waited too long
     */
    ServerResponse(Response response, Duration stall, Runnable closeConnection) {
        this.response = response;
        this.stall = stall;
        this.closeConnection = closeConnection;
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
        write(true, ByteBuffer.wrap(body));
    }

    /**
     * The body as a stream (no Content-Length: chunked on HTTP/1.1, until the connection closes on HTTP/1.0);
     * buffered until {@code flush}, which writes to the client.
     */
    OutputStream outputStream() {
        if (sent) throw new IllegalStateException("the response was already sent");
        sent = true;
        stream = new BufferedOutputStream(new BodyStream(), 8192);
        return stream;
    }

    /** Ends the response after its route returned: closes an open stream, or sends an empty body if nothing was. */
    void finish() throws IOException {
        if (stream != null) stream.close();
        else if (!sent) send();
    }

    /** One write to the client, waited for; the buffer is the caller's again when it returns. */
    private void write(boolean last, ByteBuffer bytes) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        long waitMillis = stall.toMillis() + 1000L * bytes.remaining() / WRITE_RATE;
        response.write(last, bytes, Callback.from(() -> done.complete(null), done::completeExceptionally));
        try {
            done.get(waitMillis, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            // the client stopped reading: closing the connection fails the write, which then no longer holds the buffer
            closeConnection.run();
            try {
                done.get(stall.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException | TimeoutException failed) {
                // failed as expected (or never told): either way the response is over
            } catch (InterruptedException interrupted) {
                Thread.currentThread().interrupt();
            }
            throw new Sse.ClientGone(e);
        } catch (ExecutionException e) {
            throw new Sse.ClientGone(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Sse.ClientGone(e);
        }
    }

    /** The unbuffered body stream: each write is one chunk. */
    private final class BodyStream extends OutputStream {
        private boolean closed;

        @Override
        public void write(int b) {
            write(new byte[]{(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            if (closed) throw new IllegalStateException("the response stream is closed");
            if (len > 0) ServerResponse.this.write(false, ByteBuffer.wrap(b, off, len));
        }

        @Override
        public void close() {
            if (closed) return;
            closed = true;
            ServerResponse.this.write(true, ByteBuffer.allocate(0));
        }
    }
}
