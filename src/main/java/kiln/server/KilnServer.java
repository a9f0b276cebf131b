package kiln.server;

import kiln.Log;
import kiln.engine.Engine;
import kiln.tokenizer.Tokenizer;
import org.eclipse.jetty.server.ServerConnector;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Kiln's HTTP server: SGLang's native API and the OpenAI-compatible one over an {@link Engine}, on Jetty
 * ({@link HttpEdge}). It owns the engine (and the engine's model) from {@link #start} on.
 *
 * <p>Lifecycle: {@link #start} listens at once, with {@code /health} answering 503; {@link #warmup} (or
 * {@link #markReady}) makes it ready; {@link #drain} refuses new work, lets running requests finish, and stops.
 */
public final class KilnServer implements AutoCloseable {
    public static final String VERSION = "0.1.0";
    /** Held so that the level set on it is not lost when the logger is collected. */
    private static final Logger JETTY_LOG = Logger.getLogger("org.eclipse.jetty");
    /**
     * How long stopping waits, after aborting the requests still open, for their handlers to write how they ended
     * (milliseconds, unless a client has stopped reading) before the listener closes.
     */
    static final long ENDINGS_GRACE_MS = 2_000;

    private final Serving serving;
    private final ServerConnector web;
    private final Exchanges exchanges;
    private final Object stopLock = new Object();
    private volatile boolean stopped;
    /** What requests still open when the server stops are told (their finish reason's message). */
    private volatile String shutdownMessage = "the server shut down before the request finished";

    private KilnServer(Serving serving, ServerConnector web, Exchanges exchanges) {
        this.serving = serving;
        this.web = web;
        this.exchanges = exchanges;
    }

    /** Binds and starts serving; not ready (health 503) until {@link #warmup} or {@link #markReady}. */
    public static KilnServer start(Engine engine, Tokenizer tokenizer, ServerOptions options) {
        JETTY_LOG.setLevel(Level.WARNING);
        Serving serving = new Serving(engine, tokenizer, options);
        Routes routing = new Routes();
        routing.filter(new BrowserPolicy(options.allowedOrigins(), BrowserPolicy.isLoopbackBind(options.host())));
        if (options.apiKey() != null) routing.filter(new Auth(options.apiKey()));
        new GenerateApi(serving).register(routing);
        new CompletionsApi(serving).register(routing);
        ChatApi chat = new ChatApi(serving);
        chat.register(routing);
        new TokenizeApi(serving, chat).register(routing);
        new InfoApi(serving).register(routing);
        Exchanges exchanges = new Exchanges();
        ServerConnector web = HttpEdge.start(routing, options, exchanges);
        KilnServer server = new KilnServer(serving, web, exchanges);
        Log.info("HTTP server listening on %s (model %s)", server.url(), options.servedModelName());
        return server;
    }

    public int port() {
        return web.getLocalPort();
    }

    public String url() {
        String host = serving.options.host();
        // a wildcard bind is reached (by the warmup, by tests) through loopback
        if (host.equals("0.0.0.0")) host = "127.0.0.1";
        if (host.equals("::") || host.equals("[::]")) host = "::1";
        if (host.contains(":") && !host.startsWith("[")) host = "[" + host + "]";
        return "http://" + host + ":" + port();
    }

    public Engine engine() {
        return serving.engine;
    }

    public boolean ready() {
        return serving.state() == Serving.State.READY;
    }

    public void markReady() {
        serving.state(Serving.State.READY);
        Log.info("The server is fired up and ready to roll!");
    }

    /** Sends one real request through HTTP, as SGLang does, then marks the server ready; fails if it fails. */
    public void warmup() {
        String body = serving.tokenizer != null
                ? "{\"text\": \"The capital city of France is\", \"sampling_params\": {\"temperature\": 0, \"max_new_tokens\": 8}}"
                : "{\"input_ids\": [10, 11, 12], \"sampling_params\": {\"temperature\": 0, \"max_new_tokens\": 8}}";
        HttpRequest.Builder req = HttpRequest.newBuilder(URI.create(url() + "/generate"))
                .timeout(Duration.ofMinutes(10))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (serving.options.apiKey() != null) req.header("Authorization", "Bearer " + serving.options.apiKey());
        long t0 = System.nanoTime();
        try (HttpClient client = HttpClient.newHttpClient()) {
            HttpResponse<String> res = client.send(req.build(), HttpResponse.BodyHandlers.ofString());
            if (res.statusCode() != 200) {
                throw new IllegalStateException("the warmup request failed with HTTP " + res.statusCode() + ": " + res.body());
            }
        } catch (java.io.IOException e) {
            throw new IllegalStateException("the warmup request failed: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted during warmup", e);
        }
        Log.info("Warmup request done in %.2f s", (System.nanoTime() - t0) / 1e9);
        markReady();
    }

    /**
     * Graceful stop (SIGTERM): new work gets 503, running requests finish and their responses are written (up to
     * {@code timeoutMs}), then the engine and the listener stop. True when every request finished in time; false
     * when some had to be aborted (they end with a message saying the drain ran out).
     */
    public boolean drain(long timeoutMs) {
        serving.state(Serving.State.DRAINING);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        int running = serving.inFlight();
        if (running > 0) Log.info("Draining: waiting for %d running request(s) to finish (up to %d s)", running, timeoutMs / 1000);
        while (serving.inFlight() > 0 && System.nanoTime() < deadline) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        boolean clean = serving.inFlight() == 0;
        if (!clean) {
            Log.warn("drain timed out; aborting %d request(s)", serving.inFlight());
            shutdownMessage = "the server shut down: its drain of " + timeoutMs / 1000 + " s ran out before the request finished";
        }
        close();
        return clean;
    }

    /**
     * Stops at once: unfinished requests end with "abort" and the shutdown message, which their clients are still
     * told (an error answer, or a stream's error event and [DONE]: up to {@link #ENDINGS_GRACE_MS} is given to
     * write it); then the listener, the engine and its model are closed.
     */
    @Override
    public void close() {
        synchronized (stopLock) {
            if (stopped) return;
            stopped = true;
            serving.state(Serving.State.DRAINING);
            serving.abortAll(shutdownMessage);
            try {
                if (!exchanges.awaitNone(ENDINGS_GRACE_MS)) {
                    Log.warn("%d answer(s) still being written %d s after their requests were aborted; closing their connections",
                            exchanges.open(), ENDINGS_GRACE_MS / 1000);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            try {
                web.getServer().stop();
            } catch (Exception e) {
                Log.warn("the HTTP listener did not stop cleanly: %s", e);
            }
            serving.engine.close();
            serving.engine.model().close();
            stopLock.notifyAll();
        }
        Log.info("Server stopped.");
    }

    /** Blocks until the server has been stopped. */
    public void awaitStop() throws InterruptedException {
        synchronized (stopLock) {
            while (!stopped) stopLock.wait();
        }
    }
}
