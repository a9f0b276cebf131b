package kiln.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A fast fake LLM server for the benchmark's tests and for measuring the client's own cost: it speaks the three
 * APIs (native /generate, /v1/completions, /v1/chat/completions) with SGLang's stream formats, answers every
 * request with exactly the number of tokens asked for ("tok " each), and can be told to wait between tokens,
 * fail every n-th request, or stall. It records the bodies it received. {@link #main} runs it as a process
 * ({@code <launcher> serve ... --port N}), for the sweep's server start/stop test.
 */
final class StubServer implements AutoCloseable {
    /** Behaviour knobs; zero means off. */
    record Config(long firstTokenDelayMs, long tokenDelayMs, int tokensPerChunk, int failEvery, int stallAfterTokens,
                  boolean reasoning) {
        static Config fast() {
            return new Config(0, 0, 1, 0, 0, false);
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final byte[] DONE = "data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8);

    private final HttpServer server;
    private final Config config;
    final Queue<JsonNode> bodies = new ConcurrentLinkedQueue<>();
    final Queue<String> headerValues = new ConcurrentLinkedQueue<>();
    final AtomicInteger flushes = new AtomicInteger();
    final AtomicInteger inFlight = new AtomicInteger();
    final AtomicInteger maxInFlight = new AtomicInteger();
    private final AtomicInteger requests = new AtomicInteger();

    StubServer(Config config) throws IOException {
        this(config, 0);
    }

    StubServer(Config config, int port) throws IOException {
        this.config = config;
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1024);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/v1/models", ex -> json(ex, 200, "{\"object\": \"list\", \"data\": [{\"id\": \"stub-model\"}]}"));
        server.createContext("/model_info", ex -> json(ex, 200, "{\"model_path\": \"stub-model\"}"));
        server.createContext("/server_info", ex -> json(ex, 200, "{\"stub\": true, \"internal_states\": [{}]}"));
        server.createContext("/flush_cache", ex -> {
            flushes.incrementAndGet();
            json(ex, 200, "{}");
        });
        server.createContext("/generate", ex -> generate(ex, BackendKind.Api.NATIVE));
        server.createContext("/v1/completions", ex -> generate(ex, BackendKind.Api.COMPLETIONS));
        server.createContext("/v1/chat/completions", ex -> generate(ex, BackendKind.Api.CHAT));
        server.start();
    }

    int port() {
        return server.getAddress().getPort();
    }

    String baseUrl() {
        return "http://127.0.0.1:" + port();
    }

    private void generate(HttpExchange ex, BackendKind.Api api) throws IOException {
        int now = inFlight.incrementAndGet();
        maxInFlight.accumulateAndGet(now, Math::max);
        // a request stops counting before its last bytes go out: once the client has them it may start the next
        // one, which must not find this handler still counted (a clean run saw 3 of a concurrency limit of 2)
        AtomicBoolean counted = new AtomicBoolean(true);
        Runnable leave = () -> {
            if (counted.getAndSet(false)) inFlight.decrementAndGet();
        };
        try {
            JsonNode body = JSON.readTree(ex.getRequestBody());
            bodies.add(body);
            String h = ex.getRequestHeaders().getFirst("X-Test");
            if (h != null) headerValues.add(h);
            int n = switch (api) {
                case NATIVE -> body.path("sampling_params").path("max_new_tokens").asInt(16);
                case COMPLETIONS -> body.path("max_tokens").asInt(16);
                case CHAT -> body.path("max_completion_tokens").asInt(16);
            };
            if (config.failEvery() > 0 && requests.incrementAndGet() % config.failEvery() == 0) {
                leave.run();
                json(ex, 500, "{\"error\": \"stub failure\"}");
                return;
            }
            if (!body.path("stream").asBoolean(false)) {
                sleep(config.firstTokenDelayMs() + config.tokenDelayMs() * Math.max(0, n - 1));
                leave.run();
                json(ex, 200, whole(api, n).toString());
                return;
            }
            ex.getResponseHeaders().set("Content-Type", "text/event-stream");
            ex.sendResponseHeaders(200, 0);
            try (OutputStream out = ex.getResponseBody()) {
                if (api == BackendKind.Api.CHAT) send(out, chatRoleChunk());
                sleep(config.firstTokenDelayMs());
                int sent = 0;
                while (sent < n) {
                    if (sent > 0) sleep(config.tokenDelayMs());
                    if (config.stallAfterTokens() > 0 && sent >= config.stallAfterTokens()) sleep(600_000);
                    int k = Math.min(config.tokensPerChunk(), n - sent);
                    sent += k;
                    send(out, chunk(api, sent, k, n));
                }
                if (api != BackendKind.Api.NATIVE) send(out, usageChunk(api, n));
                leave.run();
                out.write(DONE);
                out.flush();
            }
        } catch (IOException e) {
            // the client went away (idle timeout test): nothing to answer
        } finally {
            leave.run();
            ex.close();
        }
    }

    private ObjectNode chunk(BackendKind.Api api, int sent, int added, int total) {
        ObjectNode c = JSON.createObjectNode();
        switch (api) {
            case NATIVE -> {
                c.put("text", "tok ".repeat(sent));
                c.putObject("meta_info").put("completion_tokens", sent).put("prompt_tokens", 1);
            }
            case COMPLETIONS -> c.putArray("choices").addObject().put("index", 0).put("text", "tok ".repeat(added));
            case CHAT -> {
                ObjectNode delta = c.putArray("choices").addObject().put("index", 0).putObject("delta");
                boolean thinking = config.reasoning() && sent <= total / 2;
                delta.put(thinking ? "reasoning_content" : "content", "tok ".repeat(added));
                if (thinking) delta.putNull("content");
            }
        }
        return c;
    }

    private static ObjectNode chatRoleChunk() {
        ObjectNode c = JSON.createObjectNode();
        c.putArray("choices").addObject().put("index", 0).putObject("delta").put("role", "assistant").put("content", "");
        return c;
    }

    private static ObjectNode usageChunk(BackendKind.Api api, int n) {
        ObjectNode c = JSON.createObjectNode();
        c.putArray("choices");
        c.putObject("usage").put("prompt_tokens", 1).put("completion_tokens", n).put("total_tokens", n + 1);
        return c;
    }

    private ObjectNode whole(BackendKind.Api api, int n) {
        ObjectNode c = JSON.createObjectNode();
        String text = "tok ".repeat(n);
        switch (api) {
            case NATIVE -> {
                c.put("text", text);
                c.putObject("meta_info").put("completion_tokens", n);
            }
            case COMPLETIONS -> c.putArray("choices").addObject().put("text", text);
            case CHAT -> c.putArray("choices").addObject().putObject("message").put("role", "assistant").put("content", text);
        }
        if (api != BackendKind.Api.NATIVE) c.putObject("usage").put("completion_tokens", n);
        return c;
    }

    private static void send(OutputStream out, ObjectNode chunk) throws IOException {
        out.write(("data: " + chunk + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private static void json(HttpExchange ex, int status, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(b);
        }
    }

    private static void sleep(long ms) {
        if (ms <= 0) return;
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }

    /** {@code StubServer [serve] [...] --port N [--token-delay-ms D]}: runs until killed. */
    public static void main(String[] args) throws Exception {
        List<String> a = List.of(args);
        int port = a.contains("--port") ? Integer.parseInt(a.get(a.indexOf("--port") + 1)) : 30000;
        long delay = a.contains("--token-delay-ms") ? Long.parseLong(a.get(a.indexOf("--token-delay-ms") + 1)) : 0;
        StubServer s = new StubServer(new Config(0, delay, 1, 0, 0, false), port);
        System.out.println("stub server on port " + s.port() + " with args " + a);
        Thread.currentThread().join();
    }
}
