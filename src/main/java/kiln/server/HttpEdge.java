package kiln.server;

import io.helidon.http.DirectHandler;
import io.helidon.http.HeaderNames;
import io.helidon.http.HeaderValues;
import io.helidon.webserver.CloseConnectionException;
import io.helidon.webserver.http.Filter;
import io.helidon.webserver.WebServerConfig;
import io.helidon.webserver.http.DirectHandlers;
import kiln.Log;

import java.lang.management.ManagementFactory;
import java.time.Duration;

/**
 * The connection-level settings of Kiln's listener, all Helidon's own options: how many connections may be open,
 * when an idle one is closed, how big a request may be, and what the answers Helidon gives before any route runs
 * (a malformed request line, a URI or headers too long, a body too large) look like: the same OpenAI error JSON
 * as every other error.
 */
final class HttpEdge {
    private HttpEdge() {}

    /** Bodies beyond this are refused (413). */
    static final long MAX_PAYLOAD_BYTES = 64L << 20;
    /** File descriptors kept out of the connection cap: the JVM's jars, the model's files, the KV pool, logs. */
    static final int DESCRIPTOR_RESERVE = 512;

    /** Applies connection limits, idle timeouts and the error bodies to the server's (default) listener. */
    static void configure(WebServerConfig.Builder web, ServerOptions options) {
        int cap = connectionCap(options.maxConnections());
        Duration idle = Duration.ofSeconds(options.keepAliveSeconds());
        web.maxPayloadSize(MAX_PAYLOAD_BYTES)
                .maxTcpConnections(cap)
                .idleConnectionTimeout(idle)
                // Helidon checks for idle connections on this period; a fifth of the timeout keeps the overshoot small
                .idleConnectionPeriod(Duration.ofMillis(Math.max(1000, idle.toMillis() / 5)))
                .directHandlers(errorBodies());
        Log.info("Connections: at most %d open, closed after %d s idle", cap, options.keepAliveSeconds());
    }

    /**
     * The open-connection cap: the one asked for, within what the process's descriptor limit leaves after
     * {@link #DESCRIPTOR_RESERVE}. Past the cap the listener accepts no more until one closes, so it can never run
     * out of descriptors itself (Helidon's listener stops for good when an accept fails).
     */
    static int connectionCap(int requested) {
        long fds = maxDescriptors();
        int room = fds <= 0 ? Integer.MAX_VALUE : (int) Math.max(16, Math.min(Integer.MAX_VALUE, fds - DESCRIPTOR_RESERVE));
        if (requested <= 0) return room;
        if (requested > room) {
            Log.warn("--max-connections %d is more than the file descriptor limit (%d) leaves room for; using %d", requested, fds, room);
            return room;
        }
        return requested;
    }

    private static long maxDescriptors() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.UnixOperatingSystemMXBean unix) {
            return unix.getMaxFileDescriptorCount();
        }
        return -1;
    }

    /**
     * Closes the connection after answering a request that asked for it with {@code Connection: close}. Helidon
     * 4.5 says so in the response but keeps reading the socket when the request had no body, so the client's
     * connection stayed open until the idle timeout; the exception is how a route tells Helidon to close it.
     */
    static Filter honourConnectionClose() {
        return (chain, req, res) -> {
            chain.proceed();
            if (req.headers().containsToken(HeaderValues.CONNECTION_CLOSE) && res.isSent()) {
                throw new CloseConnectionException("the client asked for Connection: close");
            }
        };
    }

    private static DirectHandlers errorBodies() {
        DirectHandler json = (request, type, status, headers, message) -> {
            String text = message == null || message.isBlank() ? status.reasonPhrase() : message;
            if (type == DirectHandler.EventType.HTTP_VERSION_NOT_SUPPORTED) {
                text += " (HTTP/1.1 is required: a proxy in front of Kiln must speak it upstream, e.g. nginx's proxy_http_version 1.1)";
            }
            ApiException e = new ApiException(status.code(), status.code() >= 500 ? "server_error" : "invalid_request_error",
                    text, null, null, null);
            headers.set(HeaderNames.CONTENT_TYPE, Http.JSON);
            return DirectHandler.TransportResponse.builder()
                    .status(status)
                    .headers(headers)
                    .entity(Json.bytes(Http.errorBody(e)))
                    .keepAlive(false)
                    .build();
        };
        DirectHandlers.Builder b = DirectHandlers.builder();
        for (DirectHandler.EventType t : DirectHandler.EventType.values()) b.addHandler(t, json);
        return b.build();
    }
}
