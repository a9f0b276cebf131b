package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import kiln.model.Fixture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The HTTP layer on raw sockets: connection handling, malformed framing, and what browsers may not do. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HttpEdgeTest {
    private LiveServer live;

    @BeforeAll
    void start() {
        live = new LiveServer("--model-path", Fixture.ROOT.resolve("llama-tiny").toString(), "--skip-tokenizer-init",
                "--max-total-tokens", "2048", "--enable-metrics", "--skip-server-warmup", "--timeout-keep-alive", "2");
    }

    @AfterAll
    void stop() {
        live.close();
    }

    /** What came back on one connection: the raw bytes read until the server closed it or {@code waitMs} passed. */
    record Exchange(String text, boolean closedByServer) {
        int status() {
            return Integer.parseInt(text.substring(9, 12));
        }

        JsonNode json() {
            return LiveServer.json(text.substring(text.indexOf("\r\n\r\n") + 4));
        }
    }

    static Exchange exchange(String url, String raw, int waitMs) throws IOException {
        URI uri = URI.create(url);
        try (Socket s = new Socket(uri.getHost(), uri.getPort())) {
            s.setSoTimeout(waitMs);
            s.getOutputStream().write(raw.getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            return readAll(s.getInputStream());
        }
    }

    private static Exchange readAll(InputStream in) throws IOException {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        try {
            for (int n; (n = in.read(buf)) >= 0; ) got.write(buf, 0, n);
            return new Exchange(got.toString(StandardCharsets.UTF_8), true);
        } catch (SocketTimeoutException e) {
            return new Exchange(got.toString(StandardCharsets.UTF_8), false);
        } catch (IOException e) { // reset: the server closed with unread input
            return new Exchange(got.toString(StandardCharsets.UTF_8), true);
        }
    }

    private static void assertOpenAiError(Exchange e, int status) {
        assertEquals(status, e.status(), e.text());
        assertTrue(e.text().toLowerCase().contains("content-type: application/json"), e.text());
        JsonNode error = e.json().get("error");
        assertTrue(error != null && !error.path("message").asText().isBlank(), e.text());
        assertFalse(e.text().contains("java."), "no Java internals in the answer: " + e.text());
    }

    @Test
    void connectionCloseIsHonoured() throws IOException {
        for (String request : List.of("GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                "POST /generate HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\n"
                        + "Content-Length: 2\r\n\r\n{}")) {
            long t0 = System.nanoTime();
            Exchange e = exchange(live.url, request, 5000);
            assertTrue(e.closedByServer(), "the server closes the connection after answering: " + e.text());
            assertTrue((System.nanoTime() - t0) / 1e9 < 1, "at once, not after the idle timeout");
        }
    }

    @Test
    void idleKeepAliveConnectionsAreClosed() throws IOException {
        long t0 = System.nanoTime();
        Exchange e = exchange(live.url, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n", 15_000);
        assertEquals(200, e.status(), e.text());
        assertTrue(e.closedByServer(), "an idle keep-alive connection is closed after --timeout-keep-alive");
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertTrue(seconds >= 1.5 && seconds < 10, "closed after " + seconds + " s");
    }

    @Test
    void malformedFramingGetsAnOpenAiErrorWithoutInternals() throws IOException {
        assertOpenAiError(exchange(live.url, "POST /generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                + "Transfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n", 5000), 400);
        assertOpenAiError(exchange(live.url, "GET /" + "a".repeat(20_000) + " HTTP/1.1\r\nHost: localhost\r\n\r\n", 5000), 414);
        assertOpenAiError(exchange(live.url, "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: " + "b".repeat(40_000) + "\r\n\r\n", 5000), 431);
        assertOpenAiError(exchange(live.url, "POST /generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                + "Content-Length: " + (HttpEdge.MAX_PAYLOAD_BYTES + 1) + "\r\n\r\n{", 5000), 413);
        assertOpenAiError(exchange(live.url, "BREW /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 5000), 405);
        assertOpenAiError(exchange(live.url, "GET /health HTTP/9.7\r\nHost: localhost\r\n\r\n", 5000), 505);
        assertEquals(200, live.get("/health").status(), "the server still serves");
    }

    @Test
    void browsersCannotDriveTheServerFromOtherPages() throws IOException {
        String abortAll = "{\"abort_all\": true}";
        // a simple cross-origin POST needs no preflight: text/plain, with the attacker's Origin
        Exchange e = exchange(live.url, "POST /abort_request HTTP/1.1\r\nHost: localhost\r\nOrigin: http://evil.example\r\n"
                + "Content-Type: text/plain\r\nContent-Length: " + abortAll.length() + "\r\nConnection: close\r\n\r\n" + abortAll, 5000);
        assertOpenAiError(e, 403);
        assertEquals("origin_not_allowed", e.json().at("/error/code").asText());
        // no Origin, but not JSON either (as a form would send)
        e = exchange(live.url, "POST /flush_cache HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                + "Content-Length: 3\r\nConnection: close\r\n\r\na=b", 5000);
        assertOpenAiError(e, 415);
        // an image tag's GET carries no Origin, but the browser says where it comes from
        e = exchange(live.url, "GET /flush_cache HTTP/1.1\r\nHost: localhost\r\nSec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: no-cors\r\n"
                + "Connection: close\r\n\r\n", 5000);
        assertOpenAiError(e, 403);
        // DNS rebinding: the page's own name as Host, on a loopback-only server
        e = exchange(live.url, "GET /v1/models HTTP/1.1\r\nHost: evil.example:30000\r\nConnection: close\r\n\r\n", 5000);
        assertOpenAiError(e, 403);
        assertEquals("host_not_allowed", e.json().at("/error/code").asText());
        // the wildcard address reaches loopback too (SGLang's bench_serving sends Host: 0.0.0.0 by default)
        for (String wildcard : new String[]{"0.0.0.0:30000", "[::]:30000"}) {
            e = exchange(live.url, "GET /v1/models HTTP/1.1\r\nHost: " + wildcard + "\r\nConnection: close\r\n\r\n", 5000);
            assertEquals(200, e.status(), e.text());
        }
        // a preflight from a page that was not allowed gets no CORS headers
        e = exchange(live.url, "OPTIONS /generate HTTP/1.1\r\nHost: localhost\r\nOrigin: http://evil.example\r\n"
                + "Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n", 5000);
        assertEquals(403, e.status(), e.text());
        assertFalse(e.text().toLowerCase().contains("access-control-allow-origin"), e.text());
        // the loopback names and plain clients are served
        for (String host : List.of("localhost", "127.0.0.1:1234", "[::1]:30000")) {
            assertEquals(200, exchange(live.url, "GET /health HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n", 5000).status(), host);
        }
    }

    @Test
    void allowedOriginsGetCors() throws IOException {
        try (LiveServer cors = new LiveServer("--model-path", Fixture.ROOT.resolve("llama-tiny").toString(), "--skip-tokenizer-init",
                "--max-total-tokens", "1024", "--skip-server-warmup", "--allowed-origins", "http://app.example,https://ui.example:8443")) {
            Exchange pre = exchange(cors.url, "OPTIONS /v1/completions HTTP/1.1\r\nHost: localhost\r\nOrigin: https://ui.example:8443\r\n"
                    + "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type, authorization\r\n"
                    + "Connection: close\r\n\r\n", 5000);
            assertEquals(204, pre.status(), pre.text());
            String h = pre.text().toLowerCase();
            assertTrue(h.contains("access-control-allow-origin: https://ui.example:8443"), pre.text());
            assertTrue(h.contains("access-control-allow-methods:") && h.contains("access-control-allow-headers: content-type, authorization"), pre.text());
            String body = "{\"prompt\": [5, 6], \"max_tokens\": 2}";
            Exchange post = exchange(cors.url, "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nOrigin: http://app.example\r\n"
                    + "Content-Type: application/json\r\nContent-Length: " + body.length() + "\r\nConnection: close\r\n\r\n" + body, 10_000);
            assertEquals(200, post.status(), post.text());
            assertTrue(post.text().toLowerCase().contains("access-control-allow-origin: http://app.example"), post.text());
            assertEquals(403, exchange(cors.url, "GET /health HTTP/1.1\r\nHost: localhost\r\nOrigin: http://other.example\r\n"
                    + "Connection: close\r\n\r\n", 5000).status());
        }
    }

    @Test
    void anEncodedSlashInAModelIdIsPartOfTheId() throws IOException {
        // the OpenAI clients encode a model name that is a path (/models/x) into one path segment
        Exchange e = exchange(live.url, "GET /v1/models/%2Fmodels%2Fother HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 5000);
        assertOpenAiError(e, 404);
        assertTrue(e.json().at("/error/message").asText().contains("'/models/other'"), e.text());
    }

    /** HTTP/1.0 (nginx's default upstream protocol, ab): served, without chunked encoding, closed after the answer. */
    @Test
    void http10IsServed() throws IOException {
        Exchange health = exchange(live.url, "GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n", 5000);
        assertEquals(200, health.status(), health.text());
        assertTrue(health.closedByServer(), "HTTP/1.0 without keep-alive closes after the answer: " + health.text());
        Exchange kept = exchange(live.url, "GET /health HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n", 1000);
        assertEquals(200, kept.status(), kept.text());
        assertFalse(kept.closedByServer(), "HTTP/1.0 with keep-alive stays open: " + kept.text());

        String body = "{\"input_ids\": [5, 6, 7], \"sampling_params\": {\"max_new_tokens\": 4, \"temperature\": 0, \"ignore_eos\": true}}";
        String post = "POST /generate HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ";
        Exchange plain = exchange(live.url, post + body.length() + "\r\n\r\n" + body, 30_000);
        assertEquals(200, plain.status(), plain.text());
        assertTrue(plain.closedByServer(), plain.text());
        assertEquals(4, plain.json().get("output_ids").size(), plain.text());

        String streamed = body.replace("{\"input_ids\"", "{\"stream\": true, \"input_ids\"");
        Exchange sse = exchange(live.url, post + streamed.length() + "\r\n\r\n" + streamed, 30_000);
        assertEquals(200, sse.status(), sse.text());
        assertTrue(sse.closedByServer(), "the stream ends with the connection: " + sse.text());
        String headers = sse.text().substring(0, sse.text().indexOf("\r\n\r\n")).toLowerCase();
        assertTrue(headers.contains("content-type: text/event-stream"), sse.text());
        assertFalse(headers.contains("transfer-encoding"), "no chunked encoding on HTTP/1.0: " + sse.text());
        String events = sse.text().substring(sse.text().indexOf("\r\n\r\n") + 4);
        assertTrue(events.startsWith("data: {") && events.endsWith("data: [DONE]\n\n"), events);
        JsonNode last = null;
        for (String line : events.split("\n")) {
            if (line.startsWith("data: {")) last = LiveServer.json(line.substring(6));
        }
        assertEquals(4, last.get("output_ids").size(), events);

        // HTTP/1.0 lets a client leave out Host (browsers always send one, so the loopback check has nothing to check)
        Exchange noHost = exchange(live.url, "GET /health HTTP/1.0\r\n\r\n", 5000);
        assertEquals(200, noHost.status(), noHost.text());
        Exchange noHostPost = exchange(live.url, "POST /generate HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: "
                + body.length() + "\r\n\r\n" + body, 30_000);
        assertEquals(200, noHostPost.status(), noHostPost.text());
        assertEquals(4, noHostPost.json().get("output_ids").size(), noHostPost.text());
        Exchange rebound = exchange(live.url, "GET /health HTTP/1.0\r\nHost: evil.example\r\n\r\n", 5000);
        assertEquals(403, rebound.status(), "a Host that is not loopback is still refused: " + rebound.text());
    }

    @Test
    void silentConnectionsAreClosed() throws IOException {
        // a client that connects and sends nothing is closed after --timeout-keep-alive (2 s here)
        Exchange e = exchange(live.url, "", 15_000);
        assertTrue(e.closedByServer(), "a silent connection is closed");
        assertEquals("", e.text());
    }

    /**
     * Sends {@code head} (whole), then {@code drip} a byte every 300 ms (each byte well within the idle timeout),
     * and returns whether the server closed the connection before {@code drip} ran out.
     */
    private static boolean closedWhileDripping(String url, String head, String drip) throws IOException {
        URI uri = URI.create(url);
        try (Socket s = new Socket(uri.getHost(), uri.getPort())) {
            s.setSoTimeout(300);
            s.getOutputStream().write(head.getBytes(StandardCharsets.ISO_8859_1));
            for (int i = 0; i < drip.length(); i++) {
                try {
                    s.getOutputStream().write(drip.charAt(i));
                    s.getOutputStream().flush();
                    if (s.getInputStream().read() < 0) return true;
                } catch (SocketTimeoutException e) {
                    // nothing from the server yet: send the next byte
                } catch (IOException e) {
                    return true; // reset
                }
            }
            return false;
        }
    }

    @Test
    void slowlorisClientsAreClosed() throws IOException {
        // 60 bytes at 300 ms each would take 18 s: a request may take 2 s (--timeout-keep-alive) plus 1 s per KiB
        assertTrue(closedWhileDripping(live.url, "GET /health HTTP/1.1\r\nHost: localhost\r\n", "X-Slow: " + "a".repeat(52)),
                "a request whose headers come a byte at a time is closed");
        String post = "POST /generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n";
        assertTrue(closedWhileDripping(live.url, post, "{\"input_ids\": [5, 6, 7], \"rid\": \"" + "b".repeat(30) + "\"}  "),
                "a request whose body comes a byte at a time is closed");
        assertEquals(200, live.get("/health").status(), "the server still serves");
    }

    /** The idle timeout is for connections with no request under way, not for a request waiting on the engine. */
    @Test
    void aRequestWaitingOnTheEngineOutlastsTheIdleTimeout() throws Exception {
        try (LiveServer one = new LiveServer("--model-path", Fixture.ROOT.resolve("llama-tiny").toString(), "--skip-tokenizer-init",
                "--max-total-tokens", "4096", "--max-running-requests", "1", "--skip-server-warmup", "--timeout-keep-alive", "1");
             java.net.http.HttpClient client = java.net.http.HttpClient.newHttpClient()) {
            // a long stream (its only event at the end) holds the only running place until it is aborted
            var holder = client.sendAsync(java.net.http.HttpRequest.newBuilder(URI.create(one.url + "/generate"))
                    .header("Content-Type", "application/json").POST(java.net.http.HttpRequest.BodyPublishers.ofString(
                            "{\"rid\": \"hold\", \"input_ids\": [5, 6, 7, 8], \"stream\": true, \"sampling_params\": "
                                    + "{\"max_new_tokens\": 4000, \"ignore_eos\": true, \"stream_interval\": 100000}}")).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            while (one.get("/server_info").json().at("/internal_states/0/num_running_reqs").asInt() != 1) Thread.sleep(10);
            String body = "{\"input_ids\": [5, 6, 7], \"sampling_params\": {\"max_new_tokens\": 2, \"ignore_eos\": true}}";
            var waiting = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    return exchange(one.url, "POST /generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                            + "Connection: close\r\nContent-Length: " + body.length() + "\r\n\r\n" + body, 30_000);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            Thread.sleep(3000); // three idle timeouts with both connections silent
            assertFalse(holder.isDone(), () -> "the stream is still running: " + holder.join().body());
            assertFalse(waiting.isDone(), () -> "the second request waits for the running place: " + waiting.join().text());
            assertEquals(200, one.post("/abort_request", "{\"rid\": \"hold\"}").status());
            Exchange answered = waiting.get();
            assertEquals(200, answered.status(), answered.text());
            assertEquals(2, answered.json().get("output_ids").size(), answered.text());
            assertTrue(holder.get().body().contains("\"abort\""), "the stream ends with its abort: " + holder.get().body());
        }
    }

    /**
     * A client that stops reading its stream: once the socket buffers are full, the write waits the stall timeout
     * (--timeout-keep-alive), then the connection is closed and the request aborted, its KV slots freed.
     */
    @Test
    void aStreamTheClientStopsReadingIsAborted() throws Exception {
        try (LiveServer one = new LiveServer("--model-path", Fixture.ROOT.resolve("llama-tiny").toString(), "--skip-tokenizer-init",
                "--max-total-tokens", "8192", "--skip-server-warmup", "--timeout-keep-alive", "1")) {
            // /generate streams every output id so far in each event: 6,000 tokens are tens of megabytes
            String body = "{\"rid\": \"unread\", \"input_ids\": [5, 6, 7], \"stream\": true, "
                    + "\"sampling_params\": {\"max_new_tokens\": 6000, \"ignore_eos\": true}}";
            URI uri = URI.create(one.url);
            try (Socket s = new Socket()) {
                s.setReceiveBufferSize(4096);
                s.connect(new java.net.InetSocketAddress(uri.getHost(), uri.getPort()));
                s.getOutputStream().write(("POST /generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                        + "Content-Length: " + body.length() + "\r\n\r\n" + body).getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
                long deadline = System.nanoTime() + 60_000_000_000L;
                kiln.engine.EngineStats stats;
                while ((stats = one.server.engine().stats()).finishedByReason().isEmpty() && System.nanoTime() < deadline) {
                    Thread.sleep(100);
                }
                assertEquals(java.util.Map.of("abort", 1L), stats.finishedByReason(), "the unread stream was aborted, not run to its length");
                while ((stats = one.server.engine().stats()).kvUsedTokens() > 0 && System.nanoTime() < deadline) Thread.sleep(50);
                assertEquals(0, stats.kvUsedTokens(), "its KV slots were freed");
            }
            assertEquals(200, one.get("/health").status(), "the server still serves");
        }
    }

    @Test
    void connectionsPastTheCapAreRefusedAtOnce() throws Exception {
        try (LiveServer capped = new LiveServer("--model-path", Fixture.ROOT.resolve("llama-tiny").toString(), "--skip-tokenizer-init",
                "--max-total-tokens", "1024", "--skip-server-warmup", "--max-connections", "4", "--timeout-keep-alive", "60")) {
            URI uri = URI.create(capped.url);
            List<Socket> held = new ArrayList<>();
            try {
                for (int i = 0; i < 4; i++) {
                    Socket s = new Socket(uri.getHost(), uri.getPort());
                    s.getOutputStream().write("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    held.add(s);
                }
                for (Socket s : held) {
                    s.setSoTimeout(5000);
                    assertTrue(new String(s.getInputStream().readNBytes(12), StandardCharsets.US_ASCII).endsWith("200"));
                }
                // the four stay open (keep-alive, 60 s); a fifth is closed at once instead of waiting for room
                Exchange fifth = exchange(capped.url, "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 10_000);
                assertTrue(fifth.closedByServer(), "refused, not left waiting: " + fifth.text());
                assertEquals("", fifth.text());
                // once one of the four goes, a new connection is served
                held.removeFirst().close();
                Exchange after = null;
                for (int i = 0; i < 50 && (after == null || after.text().isEmpty()); i++) {
                    if (after != null) Thread.sleep(100);
                    after = exchange(capped.url, "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 10_000);
                }
                assertEquals(200, after.status(), after.text());
            } finally {
                for (Socket s : held) s.close();
            }
        }
    }
}
