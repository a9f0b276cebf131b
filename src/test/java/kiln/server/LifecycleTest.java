package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import kiln.backend.cpu.CpuBackend;
import kiln.engine.Engine;
import kiln.engine.EngineConfig;
import kiln.model.Fixture;
import kiln.model.Model;
import kiln.model.Models;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Load shedding, cancellation, disconnects, flushing, readiness and graceful shutdown on live servers. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LifecycleTest {
    private static final String LONG = "{\"input_ids\": [5, 6, 7, 8], \"stream\": true, "
            + "\"sampling_params\": {\"max_new_tokens\": 4000, \"ignore_eos\": true}}";
    private LiveServer live;

    @BeforeAll
    void start() {
        live = new LiveServer("--model-path", Fixture.ROOT.resolve("llama-tiny").toString(), "--skip-tokenizer-init",
                "--max-total-tokens", "4096", "--max-running-requests", "1", "--max-queued-requests", "1",
                "--enable-metrics", "--skip-server-warmup");
    }

    @AfterAll
    void stop() {
        live.close();
    }

    private CompletableFuture<HttpResponse<String>> streamAsync(HttpClient client, String body) {
        HttpRequest req = HttpRequest.newBuilder(URI.create(live.url + "/generate")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
        return client.sendAsync(req, HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void fullQueueGets503WithRetryAfterAndAbortAllFreesEverything() throws Exception {
        try (HttpClient client = HttpClient.newHttpClient()) {
            var running = streamAsync(client, LONG);
            live.awaitMetric("kiln_num_running_reqs", 1);
            var queued = streamAsync(client, LONG.replace("[5, 6, 7, 8]", "[9, 10]"));
            live.awaitMetric("kiln_num_queue_reqs", 1);

            LiveServer.Response refused = live.post("/generate", "{\"input_ids\": [5], \"sampling_params\": {\"max_new_tokens\": 1}}");
            assertEquals(503, refused.status(), refused.body());
            assertTrue(Integer.parseInt(refused.headers().firstValue("Retry-After").orElseThrow()) > 0);
            assertTrue(refused.json().at("/error/message").asText().contains("queue"), refused.body());
            assertEquals(503, live.post("/v1/completions", "{\"prompt\": [5], \"max_tokens\": 1}").status());

            assertEquals(200, live.post("/abort_request", "{\"abort_all\": true}").status());
            for (var f : List.of(running, queued)) {
                HttpResponse<String> r = f.get(30, TimeUnit.SECONDS);
                assertEquals(200, r.statusCode());
                assertTrue(r.body().contains("\"type\":\"abort\""), "the stream ends with finish_reason abort");
                assertTrue(r.body().endsWith("data: [DONE]\n\n"));
            }
        }
        live.awaitMetric("kiln_num_running_reqs", 0);
        live.awaitMetric("kiln_kv_used_tokens", 0);
        assertEquals(200, live.post("/generate", "{\"input_ids\": [5], \"sampling_params\": {\"max_new_tokens\": 1}}").status());
    }

    @Test
    void abortRequestByRidEndsThatRequest() throws Exception {
        try (HttpClient client = HttpClient.newHttpClient()) {
            var f = streamAsync(client, LONG.replace("\"stream\": true", "\"stream\": false, \"rid\": \"to-abort\""));
            live.awaitMetric("kiln_num_running_reqs", 1);
            assertEquals(200, live.post("/abort_request", "{\"rid\": \"to-abort\"}").status());
            HttpResponse<String> r = f.get(30, TimeUnit.SECONDS);
            assertEquals(200, r.statusCode(), r.body());
            JsonNode meta = LiveServer.json(r.body()).get("meta_info");
            assertEquals("abort", meta.at("/finish_reason/type").asText());
            assertEquals("to-abort", meta.get("id").asText());
        }
        live.awaitMetric("kiln_kv_used_tokens", 0);
    }

    @Test
    void clientDisconnectingMidStreamAbortsItsRequest() throws Exception {
        double aborted = live.metric("kiln_requests_total", "finish_reason=\"abort\"");
        if (Double.isNaN(aborted)) aborted = 0;
        URI uri = URI.create(live.url);
        byte[] body = LONG.getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket(uri.getHost(), uri.getPort())) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
                    + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
            int events = 0;
            String line;
            while (events < 3 && (line = in.readLine()) != null) if (line.startsWith("data: {")) events++;
            assertEquals(3, events);
            assertEquals(1, live.metric("kiln_num_running_reqs"));
        }
        live.awaitMetric("kiln_num_running_reqs", 0);
        live.awaitMetric("kiln_kv_used_tokens", 0);
        assertEquals(aborted + 1, live.metric("kiln_requests_total", "finish_reason=\"abort\""));
    }

    @Test
    void flushCacheEmptiesThePrefixCache() {
        live.post("/generate", "{\"input_ids\": [11, 12, 13, 14, 15], \"sampling_params\": {\"max_new_tokens\": 2}}");
        assertTrue(live.metric("kiln_kv_cached_tokens") > 0);
        LiveServer.Response r = live.post("/flush_cache", "");
        assertEquals(200, r.status(), r.body());
        assertEquals(0, live.metric("kiln_kv_cached_tokens"));
        assertEquals(200, live.get("/flush_cache").status());
    }

    @Test
    void healthIs503UntilReadyAndDrainFinishesRunningRequests() throws Exception {
        Model model = Models.load(Fixture.ROOT.resolve("qwen2-tiny"), Models.LoadFormat.AUTO, new CpuBackend());
        Engine engine = new Engine(model, EngineConfig.defaults().withMaxTotalTokens(2048), Set.of(), null);
        KilnServer server = KilnServer.start(engine, null, ServerOptions.local("qwen2-tiny"));
        try (HttpClient client = HttpClient.newHttpClient()) {
            String url = server.url();
            assertEquals(503, client.send(HttpRequest.newBuilder(URI.create(url + "/health")).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
            server.markReady();
            assertEquals(200, client.send(HttpRequest.newBuilder(URI.create(url + "/health")).build(), HttpResponse.BodyHandlers.ofString()).statusCode());

            // a streaming request is running when the drain starts: it still finishes normally
            HttpRequest req = HttpRequest.newBuilder(URI.create(url + "/generate")).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                    "{\"input_ids\": [5, 6], \"stream\": true, \"sampling_params\": {\"max_new_tokens\": 120, \"ignore_eos\": true}}")).build();
            HttpResponse<InputStream> res = client.send(req, HttpResponse.BodyHandlers.ofInputStream());
            BufferedReader in = new BufferedReader(new InputStreamReader(res.body(), StandardCharsets.UTF_8));
            assertTrue(in.readLine().startsWith("data: {"));
            Thread drain = Thread.ofVirtual().start(() -> server.drain(60_000));
            while (server.ready()) Thread.sleep(5);
            assertEquals(503, client.send(HttpRequest.newBuilder(URI.create(url + "/health")).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
            HttpResponse<String> refused = client.send(HttpRequest.newBuilder(URI.create(url + "/generate")).header("Content-Type", "application/json").POST(
                    HttpRequest.BodyPublishers.ofString("{\"input_ids\": [5]}")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(503, refused.statusCode(), "no new work while draining");
            assertTrue(refused.headers().firstValue("Retry-After").isPresent());
            String last = null, line;
            while ((line = in.readLine()) != null) if (line.startsWith("data: {")) last = line;
            assertTrue(last != null && last.contains("\"type\":\"length\""), "the running request finished normally: " + last);
            drain.join(30_000);
            assertTrue(!drain.isAlive(), "drain returned");
        } finally {
            server.close();
        }
    }
}
