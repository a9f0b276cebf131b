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
        // headers past Helidon's limit: it answers 400 (not 431), now with the error body
        assertOpenAiError(exchange(live.url, "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: " + "b".repeat(40_000) + "\r\n\r\n", 5000), 400);
        assertOpenAiError(exchange(live.url, "POST /generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                + "Content-Length: " + (HttpEdge.MAX_PAYLOAD_BYTES + 1) + "\r\n\r\n{", 5000), 413);
        assertOpenAiError(exchange(live.url, "BREW /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 5000), 405);
        Exchange v10 = exchange(live.url, "GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n", 5000);
        assertOpenAiError(v10, 505);
        assertTrue(v10.json().at("/error/message").asText().contains("HTTP/1.1"), v10.text());
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
    void connectionsPastTheCapWaitAndIdleOnesMakeRoom() throws Exception {
        try (LiveServer capped = new LiveServer("--model-path", Fixture.ROOT.resolve("llama-tiny").toString(), "--skip-tokenizer-init",
                "--max-total-tokens", "1024", "--skip-server-warmup", "--max-connections", "4", "--timeout-keep-alive", "2")) {
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
                // the four stay open (keep-alive); a fifth is answered only once the idle ones have been closed
                long t0 = System.nanoTime();
                Exchange fifth = exchange(capped.url, "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 15_000);
                assertEquals(200, fifth.status(), fifth.text());
                assertTrue((System.nanoTime() - t0) / 1e9 > 1, "the fifth waited for room");
            } finally {
                for (Socket s : held) s.close();
            }
        }
    }
}
