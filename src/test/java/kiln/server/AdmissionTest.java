package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import kiln.model.Fixture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Request identity and admission limits on a live server: unique rids, the queue counted in sequences, fitting the KV pool. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AdmissionTest {
    private LiveServer live;

    @BeforeAll
    void start() {
        live = new LiveServer("--model-path", Fixture.ROOT.resolve("llama-tiny").toString(), "--skip-tokenizer-init",
                "--max-total-tokens", "32768", "--max-running-requests", "1", "--max-queued-requests", "4",
                "--enable-metrics", "--skip-server-warmup");
    }

    @AfterAll
    void stop() {
        live.close();
    }

    private static String generate(String rid, String ids, int maxNew) {
        return "{" + (rid == null ? "" : "\"rid\": \"" + rid + "\", ") + "\"input_ids\": " + ids
                + ", \"sampling_params\": {\"max_new_tokens\": " + maxNew + ", \"temperature\": 0, \"ignore_eos\": true}}";
    }

    private CompletableFuture<HttpResponse<String>> postAsync(HttpClient client, String path, String body) {
        return client.sendAsync(HttpRequest.newBuilder(URI.create(live.url + path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void aDuplicateRidInFlightIsRefusedAndNeitherOutputMixes() throws Exception {
        JsonNode alone = live.post("/generate", generate(null, "[10, 20, 30]", 3000)).json().get("output_ids");
        try (HttpClient client = HttpClient.newHttpClient()) {
            var first = postAsync(client, "/generate", generate("shared-rid", "[10, 20, 30]", 3000));
            live.awaitMetric("kiln_num_running_reqs", 1);
            LiveServer.Response second = live.post("/generate", generate("shared-rid", "[50, 60, 70, 80]", 50));
            assertEquals(400, second.status(), second.body());
            assertEquals("rid", second.json().at("/error/param").asText());
            assertTrue(second.json().at("/error/message").asText().contains("shared-rid"), second.body());
            // an abort of the refused request's rid would be an abort of the first: the refusal left it untouched
            HttpResponse<String> r = first.get(60, TimeUnit.SECONDS);
            assertEquals(200, r.statusCode(), r.body());
            JsonNode out = LiveServer.json(r.body());
            assertEquals(alone, out.get("output_ids"), "the first client gets exactly its own tokens");
            assertEquals("length", out.at("/meta_info/finish_reason/type").asText());
        }
        // a finished rid may be used again, and a batch may not name one rid twice
        assertEquals(200, live.post("/generate", generate("shared-rid", "[50, 60, 70, 80]", 5)).status());
        LiveServer.Response twice = live.post("/generate", "{\"rid\": [\"a\", \"a\"], \"input_ids\": [[5], [6]]}");
        assertEquals(400, twice.status(), twice.body());
        assertEquals("rid", twice.json().at("/error/param").asText());
        live.awaitMetric("kiln_kv_used_tokens", 0);
    }

    @Test
    void theQueueLimitCountsEverySequenceARequestBrings() throws Exception {
        // five prompts, or one prompt with n = 5, can never fit a queue of 4: refused outright (400), not "retry later"
        LiveServer.Response batch = live.post("/generate", "{\"input_ids\": [[5], [6], [7], [8], [9]], \"sampling_params\": {\"max_new_tokens\": 1}}");
        assertEquals(400, batch.status(), batch.body());
        assertTrue(batch.json().at("/error/message").asText().contains("--max-queued-requests 4"), batch.body());
        // param names what made the request too big: its prompts when it has several, else its n
        assertEquals("input_ids", batch.json().at("/error/param").asText(), batch.body());
        LiveServer.Response tooMany = live.post("/generate", "{\"input_ids\": [5], \"sampling_params\": {\"max_new_tokens\": 1, \"n\": 5}}");
        assertEquals(400, tooMany.status(), tooMany.body());
        assertEquals("sampling_params.n", tooMany.json().at("/error/param").asText(), tooMany.body());
        tooMany = live.post("/v1/completions", "{\"prompt\": [5], \"n\": 5, \"max_tokens\": 1}");
        assertEquals(400, tooMany.status(), tooMany.body());
        assertEquals("n", tooMany.json().at("/error/param").asText(), tooMany.body());
        tooMany = live.post("/v1/completions", "{\"prompt\": [[5], [6], [7]], \"n\": 2, \"max_tokens\": 1}");
        assertEquals(400, tooMany.status(), tooMany.body());
        assertEquals("prompt", tooMany.json().at("/error/param").asText(), tooMany.body());
        assertTrue(tooMany.json().at("/error/message").asText().contains("6 sequences (3 prompts"), tooMany.body());

        try (HttpClient client = HttpClient.newHttpClient()) {
            var running = postAsync(client, "/generate", generate(null, "[11, 12]", 30000));
            live.awaitMetric("kiln_num_running_reqs", 1);
            // three sequences wait (one request with n = 3); a request of two more does not fit, one of one does
            var three = postAsync(client, "/generate", "{\"input_ids\": [13], \"sampling_params\": {\"max_new_tokens\": 2, \"n\": 3}}");
            live.awaitMetric("kiln_num_queue_reqs", 1);
            LiveServer.Response two = live.post("/generate", "{\"input_ids\": [[14], [15]], \"sampling_params\": {\"max_new_tokens\": 1}}");
            assertEquals(503, two.status(), two.body());
            assertTrue(two.headers().firstValue("Retry-After").isPresent());
            var one = postAsync(client, "/generate", generate(null, "[16]", 1));
            live.awaitMetric("kiln_num_queue_reqs", 2); // n = 3 waits as one sequence until its prefill forks the others
            List<LiveServer.Response> refused = new ArrayList<>();
            for (int i = 0; i < 3; i++) refused.add(live.post("/generate", generate(null, "[17]", 1)));
            for (LiveServer.Response r : refused) assertEquals(503, r.status(), r.body());
            assertTrue(live.metric("kiln_num_queue_reqs") <= 4);
            assertEquals(200, live.post("/abort_request", "{\"abort_all\": true}").status());
            for (var f : List.of(running, three, one)) assertEquals(200, f.get(60, TimeUnit.SECONDS).statusCode());
        }
        live.awaitMetric("kiln_num_queue_reqs", 0);
        live.awaitMetric("kiln_kv_used_tokens", 0);
        // every place was given back
        assertEquals(200, live.post("/generate", "{\"input_ids\": [[5], [6], [7], [8]], \"sampling_params\": {\"max_new_tokens\": 1}}").status());
    }

    @Test
    void aRequestThatCanNeverFitThePoolIsRefusedAndDefaultsAreBounded() {
        try (LiveServer small = new LiveServer("--model-path", Fixture.ROOT.resolve("llama-tiny").toString(), "--skip-tokenizer-init",
                "--max-total-tokens", "1024", "--enable-metrics", "--skip-server-warmup")) {
            neverFits(small);
        }
    }

    private static void neverFits(LiveServer live) {
        StringBuilder ids = new StringBuilder("[");
        for (int i = 0; i < 900; i++) ids.append(i == 0 ? "" : ",").append(3 + i % 400);
        String prompt = ids.append("]").toString();
        LiveServer.Response r = live.post("/generate", generate(null, prompt, 200));
        assertEquals(400, r.status(), r.body());
        assertEquals("sampling_params.max_new_tokens", r.json().at("/error/param").asText());
        assertTrue(r.json().at("/error/message").asText().contains("1024"), r.body());
        r = live.post("/v1/completions", "{\"prompt\": " + prompt + ", \"max_tokens\": 200}");
        assertEquals(400, r.status(), r.body());
        assertEquals("max_tokens", r.json().at("/error/param").asText());
        r = live.post("/generate", generate(null, "[5]", Integer.MAX_VALUE));
        assertEquals(400, r.status(), r.body());
        assertTrue(r.json().at("/error/message").asText().contains("context length"), r.body());

        // without max_new_tokens the default (128) is shortened to what the pool leaves: a full answer, never a cut
        JsonNode out = live.post("/generate", "{\"input_ids\": " + prompt + ", \"sampling_params\": {\"ignore_eos\": true}}").json();
        assertEquals(1024 - 900, out.get("output_ids").size());
        assertEquals("length", out.at("/meta_info/finish_reason/type").asText());
        live.awaitMetric("kiln_kv_used_tokens", 0);
    }

    /**
     * A request the KV pool runs out under is told so (503, or a stream's error event), never a plain "length".
     * Admission makes this rare: every request fits the pool alone, and decoding requests are retracted to make
     * room for each other. It happens when a prompt starts on admission's estimate of what the running ones will
     * still need (here made tiny with --schedule-conservativeness) and then, prefilled in chunks, holds the slots a
     * lone decoding request needs: a prompt mid-prefill is not a decoding request, so nothing can be retracted.
     */
    @Test
    void aRequestCutShortForLackOfKvMemoryIsToldSo() throws Exception {
        try (LiveServer kv = new LiveServer("--max-total-tokens", "1024", "--chunked-prefill-size", "2",
                "--schedule-conservativeness", "0.01", "--enable-metrics", "--skip-server-warmup");
             HttpClient client = HttpClient.newHttpClient()) {
            // a plain /generate: 4 + 1000 tokens fit the pool alone, and so do 800 + 1 of the prompt that starts beside it
            var plain = client.sendAsync(HttpRequest.newBuilder(URI.create(kv.url + "/generate")).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(generate(null, "[5, 6, 7, 8]", 1000))).build(), HttpResponse.BodyHandlers.ofString());
            kv.awaitMetric("kiln_num_running_reqs", 1);
            var beside = postLongPrompt(client, kv, 1000);
            HttpResponse<String> cut = plain.get(120, TimeUnit.SECONDS);
            assertEquals(503, cut.statusCode(), cut.body());
            assertTrue(cut.headers().firstValue("Retry-After").isPresent());
            assertTrue(LiveServer.json(cut.body()).at("/error/message").asText().startsWith("out of KV memory: the KV pool (1024 tokens)"), cut.body());
            assertEquals(200, beside.get(120, TimeUnit.SECONDS).statusCode(), "the prompt beside it finishes");

            // a streamed chat: an error event, then [DONE]
            var stream = java.util.concurrent.CompletableFuture.supplyAsync(() -> kv.stream("/v1/chat/completions", LiveServer.json(
                    "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"stream\": true, \"max_tokens\": 990, \"ignore_eos\": true}")));
            kv.awaitMetric("kiln_num_running_reqs", 1);
            beside = postLongPrompt(client, kv, 3000);
            List<JsonNode> events = stream.get(120, TimeUnit.SECONDS);
            JsonNode error = events.getLast().path("error");
            assertTrue(error.path("message").asText().startsWith("out of KV memory"), events.getLast().toString());
            assertEquals("service_unavailable", error.path("code").asText(), error.toString());
            assertTrue(events.stream().noneMatch(e -> e.at("/choices/0/finish_reason").asText("").equals("length")), "no length finish");
            assertEquals(200, beside.get(120, TimeUnit.SECONDS).statusCode());
            kv.awaitMetric("kiln_kv_used_tokens", 0);
        }
    }

    /** An 800-token prompt that wants one token (ids from {@code first}, so that no earlier prompt caches it). */
    private static CompletableFuture<HttpResponse<String>> postLongPrompt(HttpClient client, LiveServer live, int first) {
        StringBuilder ids = new StringBuilder("[");
        for (int i = 0; i < 800; i++) ids.append(i == 0 ? "" : ",").append(first + i);
        return client.sendAsync(HttpRequest.newBuilder(URI.create(live.url + "/generate")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(generate(null, ids + "]", 1))).build(), HttpResponse.BodyHandlers.ofString());
    }
}
