package kiln.server;

import kiln.Log;
import org.eclipse.jetty.http.HttpException;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.Executors;

/**
 * Kiln's listener: Jetty's HTTP/1.1 (and 1.0) server, through its core API, with the connection settings (the cap,
 * idle and read timeouts: {@link ConnectionGuard}), the size limit, and the same OpenAI error JSON on the answers
 * Jetty gives before any route runs (a malformed request line, a URI or headers too long) as on every other error.
 * Each request runs its route on a virtual thread, which may block on the engine and on the socket.
 */
final class HttpEdge {
    private HttpEdge() {}

    /** Bodies beyond this are refused (413). */
    static final long MAX_PAYLOAD_BYTES = 64L << 20;
    /** File descriptors kept out of the connection cap: the JVM's jars, the model's files, the KV pool, logs. */
    static final int DESCRIPTOR_RESERVE = 512;
    /** The connector's listen backlog. */
    private static final int ACCEPT_QUEUE = 1024;

    /**
     * Listens on the options' host and port, answering with the routes; the connector's server is started.
     * {@code exchanges} counts the routes running, each until its answer has been written.
     */
    static ServerConnector start(Routes routes, ServerOptions options, Exchanges exchanges) {
        int cap = connectionCap(options.maxConnections());
        Duration keepAlive = Duration.ofSeconds(options.keepAliveSeconds());
        QueuedThreadPool threads = new QueuedThreadPool();
        threads.setName("kiln-http");
        threads.setVirtualThreadsExecutor(Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("kiln-http-", 0).factory()));
        Server server = new Server(threads);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendXPoweredBy(false);
        // a served model's name is often a path (/models/DeepSeek-R1), which clients encode into /v1/models/{id}
        http.setUriCompliance(UriCompliance.DEFAULT.with("kiln", UriCompliance.Violation.AMBIGUOUS_PATH_SEPARATOR));
        ServerConnector connector = new ServerConnector(server, new HttpConnectionFactory(http));
        connector.setHost(options.host());
        connector.setPort(options.port());
        connector.setAcceptQueueSize(ACCEPT_QUEUE);
        // closes connections with no request under way: silent since connecting, or idle between requests
        connector.setIdleTimeout(keepAlive.toMillis());
        ConnectionGuard guard = new ConnectionGuard(cap, keepAlive);
        connector.addBean(guard);
        server.addConnector(connector);
        server.setHandler(new Dispatch(routes, guard, keepAlive, exchanges));
        server.setErrorHandler(HttpEdge::errorBody);
        try {
            server.start();
        } catch (Exception e) {
            try {
                server.stop();
            } catch (Exception ignored) {
                // it did not start; nothing more to release
            }
            throw new IllegalStateException("cannot listen on " + options.host() + ":" + options.port() + ": " + e.getMessage(), e);
        }
        Log.info("Connections: at most %d open (more are refused), closed after %d s idle or when a request arrives slower "
                + "than %d s plus 1 s per %d bytes", cap, options.keepAliveSeconds(), options.keepAliveSeconds(), ConnectionGuard.READ_RATE);
        return connector;
    }

    /**
     * The open-connection cap: the one asked for, within what the process's descriptor limit leaves after
     * {@link #DESCRIPTOR_RESERVE}. Connections past it are refused, so the process never runs out of descriptors
     * for its own files.
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

    static ApiException tooLarge() {
        return new ApiException(413, "invalid_request_error", "the request body is larger than " + (MAX_PAYLOAD_BYTES >> 20)
                + " MB", null, "payload_too_large", null);
    }

    /**
     * Runs each request's route (on the virtual thread Jetty gives a blocking handler) and completes its response.
     *
     * <p>While a route runs, the connection has no idle timeout: a generation may read and write nothing for longer
     * than it, and Jetty fails a write that happens to be under way when an idle period ends (a race between its
     * timer and a token written after a long wait in the queue, which cut streams short). A stalled body is the
     * {@link ConnectionGuard}'s to close, a stalled write {@link ServerResponse}'s; the keep-alive timeout returns
     * when the route has finished.
     */
    private static final class Dispatch extends Handler.Abstract {
        private final Routes routes;
        private final ConnectionGuard guard;
        /** The keep-alive timeout, which is also how long a write may make no progress. */
        private final Duration stall;
        private final Exchanges exchanges;

        Dispatch(Routes routes, ConnectionGuard guard, Duration stall, Exchanges exchanges) {
            this.routes = routes;
            this.guard = guard;
            this.stall = stall;
            this.exchanges = exchanges;
        }

        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            Connection connection = request.getConnectionMetaData().getConnection();
            EndPoint endPoint = connection.getEndPoint();
            endPoint.setIdleTimeout(0);
            ServerRequest req = new ServerRequest(request, () -> guard.bodyRead(connection));
            guard.started(connection, req.hasBody());
            ServerResponse res = new ServerResponse(response, stall, endPoint::close);
            exchanges.opened();
            try {
                if (req.declaredLength() > MAX_PAYLOAD_BYTES) Http.sendError(res, tooLarge());
                else routes.handle(req, res);
                res.finish();
                callback.succeeded();
            } catch (Throwable t) {
                callback.failed(t);
            } finally {
                exchanges.closed();
                guard.finished(connection);
                endPoint.setIdleTimeout(stall.toMillis());
            }
            return true;
        }
    }

    /**
     * The body of the answers Jetty writes itself (a request it could not parse, a URI or headers too long, a route
     * that failed): the OpenAI error JSON, with the protocol's reason but no Java internals.
     */
    private static boolean errorBody(Request request, Response response, Callback callback) {
        int status = request.getAttribute(ErrorHandler.ERROR_STATUS) instanceof Integer s ? s : response.getStatus();
        String text = HttpStatus.getMessage(status);
        if (request.getAttribute(ErrorHandler.ERROR_EXCEPTION) instanceof HttpException h && h.getReason() != null
                && !h.getReason().isBlank() && !h.getReason().equalsIgnoreCase(text)) {
            text += ": " + h.getReason();
        }
        ApiException e = new ApiException(status, status >= 500 ? "server_error" : "invalid_request_error", text, null, null, null);
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, Http.JSON);
        response.write(true, ByteBuffer.wrap(Json.bytes(Http.errorBody(e))), callback);
        return true;
    }
}
