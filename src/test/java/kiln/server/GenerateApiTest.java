package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import kiln.model.Fixture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** SGLang's native /generate on a live server over the deepseek-v3-tiny fixture (token ids in and out). */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GenerateApiTest {
    private LiveServer live;
    private Fixture fixture;

    @BeforeAll
    void start() {
        fixture = Fixture.load("deepseek-v3-tiny");
        live = new LiveServer("--model-path", fixture.dir().toString(), "--skip-tokenizer-init", "--max-total-tokens", "8192",
                "--enable-metrics");
    }

    @AfterAll
    void stop() {
        live.close();
    }

    static ObjectNode request(JsonNode inputIds, int maxNewTokens) {
        ObjectNode r = LiveServer.JSON.createObjectNode();
        r.set("input_ids", inputIds);
        r.putObject("sampling_params").put("temperature", 0).put("max_new_tokens", maxNewTokens);
        return r;
    }

    static ArrayNode ids(int[] ids) {
        ArrayNode a = LiveServer.JSON.createArrayNode();
        for (int id : ids) a.add(id);
        return a;
    }

    static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).asInt();
        return out;
    }

    /** The reference greedy tokens up to the first low-margin step (where float error may pick the runner-up). */
    static void assertGreedy(Fixture f, int p, JsonNode outputIds, String what) {
        for (int step = 0; step < f.greedy()[p].length && step < outputIds.size(); step++) {
            assertEquals(f.greedy()[p][step], outputIds.get(step).asInt(), what + ": prompt " + p + " step " + step);
            if (f.margins()[p][step] < 1e-3) break;
        }
    }

    @Test
    void singlePromptReturnsTheReferenceGreedyTokens() {
        LiveServer.Response r = live.post("/generate", request(ids(fixture.prompts()[2]), 24));
        assertEquals(200, r.status(), r.body());
        JsonNode out = r.json();
        assertFalse(out.has("text"), "no tokenizer, so no text: " + out);
        assertEquals(24, out.get("output_ids").size());
        assertGreedy(fixture, 2, out.get("output_ids"), "single");
        JsonNode meta = out.get("meta_info");
        assertEquals("length", meta.at("/finish_reason/type").asText());
        assertEquals(24, meta.at("/finish_reason/length").asInt());
        assertEquals(fixture.prompts()[2].length, meta.get("prompt_tokens").asInt());
        assertEquals(24, meta.get("completion_tokens").asInt());
        assertTrue(meta.get("e2e_latency").asDouble() > 0);
        assertTrue(meta.has("cached_tokens") && meta.has("id"));
    }

    @Test
    void batchReturnsOneResultPerPromptInOrder() {
        ArrayNode batch = LiveServer.JSON.createArrayNode();
        for (int p = 0; p < 4; p++) batch.add(ids(fixture.prompts()[p]));
        LiveServer.Response r = live.post("/generate", request(batch, 12));
        assertEquals(200, r.status(), r.body());
        JsonNode out = r.json();
        assertTrue(out.isArray() && out.size() == 4, out.toString());
        for (int p = 0; p < 4; p++) {
            assertGreedy(fixture, p, out.get(p).get("output_ids"), "batch");
            assertEquals(fixture.prompts()[p].length, out.get(p).at("/meta_info/prompt_tokens").asInt());
        }
    }

    @Test
    void streamSendsCumulativeOutputThenDone() {
        ObjectNode req = request(ids(fixture.prompts()[1]), 10).put("stream", true);
        List<JsonNode> events = live.stream("/generate", req);
        assertEquals(10, events.size(), "one event per token with --stream-interval 1");
        for (int i = 0; i < events.size(); i++) {
            JsonNode e = events.get(i);
            assertEquals(i + 1, e.get("output_ids").size(), "cumulative output_ids");
            assertEquals(i + 1, e.at("/meta_info/completion_tokens").asInt());
            assertEquals(i == events.size() - 1, !e.at("/meta_info/finish_reason").isNull(), "finish_reason only on the last event");
        }
        JsonNode last = events.getLast().get("output_ids");
        JsonNode plain = live.post("/generate", request(ids(fixture.prompts()[1]), 10)).json().get("output_ids");
        assertEquals(plain, last, "streamed and plain outputs agree");
        assertGreedy(fixture, 1, last, "stream");
    }

    @Test
    void streamIntervalInSamplingParamsSetsTheEventSpacing() {
        ObjectNode req = request(ids(fixture.prompts()[1]), 10).put("stream", true);
        ((ObjectNode) req.get("sampling_params")).put("stream_interval", 4);
        List<JsonNode> events = live.stream("/generate", req);
        assertEquals(List.of(4, 8, 10), events.stream().map(e -> e.get("output_ids").size()).toList(),
                "an event every 4 tokens, and the last one");
    }

    @Test
    void batchStreamTagsEventsWithTheirIndex() {
        ArrayNode batch = LiveServer.JSON.createArrayNode();
        batch.add(ids(fixture.prompts()[1])).add(ids(fixture.prompts()[2]));
        List<JsonNode> events = live.stream("/generate", request(batch, 5).put("stream", true));
        assertEquals(10, events.size());
        for (int index = 0; index < 2; index++) {
            int idx = index;
            List<JsonNode> mine = events.stream().filter(e -> e.get("index").asInt() == idx).toList();
            assertEquals(5, mine.size());
            assertGreedy(fixture, index + 1, mine.getLast().get("output_ids"), "batch stream");
        }
    }

    @Test
    void promptAndOutputLogprobsMatchTheReferenceLogits() {
        int p = 3;
        int[] prompt = fixture.prompts()[p];
        ObjectNode req = request(ids(prompt), 4).put("return_logprob", true).put("logprob_start_len", 0).put("top_logprobs_num", 3);
        JsonNode meta = live.post("/generate", req).json().get("meta_info");
        JsonNode input = meta.get("input_token_logprobs");
        assertEquals(prompt.length, input.size());
        assertTrue(input.get(0).get(0).isNull(), "the first prompt token has no logprob");
        int vocab = fixture.vocab();
        for (int i = 1; i < prompt.length; i++) {
            double expected = logSoftmax(fixture.logits()[p], i - 1, vocab, prompt[i]);
            assertEquals(prompt[i], input.get(i).get(1).asInt());
            assertTrue(input.get(i).get(2).isNull(), "no text unless return_text_in_logprobs");
            assertEquals(expected, input.get(i).get(0).asDouble(), 2e-3, "prompt logprob at " + i);
        }
        JsonNode top = meta.get("input_top_logprobs");
        assertTrue(top.get(0).isNull());
        assertEquals(3, top.get(1).size());
        JsonNode output = meta.get("output_token_logprobs");
        assertEquals(4, output.size());
        double first = logSoftmax(fixture.logits()[p], prompt.length - 1, vocab, fixture.greedy()[p][0]);
        assertEquals(fixture.greedy()[p][0], output.get(0).get(1).asInt());
        assertEquals(first, output.get(0).get(0).asDouble(), 2e-3, "first output logprob");
        JsonNode outTop = meta.get("output_top_logprobs").get(0);
        assertEquals(output.get(0).get(1).asInt(), outTop.get(0).get(1).asInt(), "greedy picks the top alternative");
    }

    @Test
    void logprobStartLenSkipsTheFirstPromptTokens() {
        int[] prompt = fixture.prompts()[2];
        ObjectNode req = request(ids(prompt), 1).put("return_logprob", true).put("logprob_start_len", 5);
        JsonNode input = live.post("/generate", req).json().at("/meta_info/input_token_logprobs");
        assertEquals(prompt.length - 5, input.size());
        assertEquals(prompt[5], input.get(0).get(1).asInt());
        assertFalse(input.get(0).get(0).isNull());
        assertFalse(live.post("/generate", req).json().get("meta_info").has("input_top_logprobs"), "no top logprobs unless asked");
    }

    @Test
    void parallelSamplesAndStopTokens() {
        ObjectNode req = request(ids(fixture.prompts()[2]), 8);
        ((ObjectNode) req.get("sampling_params")).put("n", 2);
        JsonNode out = live.post("/generate", req).json();
        assertTrue(out.isArray() && out.size() == 2, out.toString());
        assertEquals(out.get(0).get("output_ids"), out.get(1).get("output_ids"), "greedy samples agree");

        int stopId = fixture.greedy()[2][2];
        ObjectNode stop = request(ids(fixture.prompts()[2]), 20);
        ((ObjectNode) stop.get("sampling_params")).putArray("stop_token_ids").add(stopId);
        JsonNode stopped = live.post("/generate", stop).json();
        JsonNode outIds = stopped.get("output_ids");
        int firstHit = 0;
        while (fixture.greedy()[2][firstHit] != stopId) firstHit++;
        assertEquals(firstHit + 1, outIds.size(), "generation stops at the first stop token, which is included");
        assertEquals("stop", stopped.at("/meta_info/finish_reason/type").asText());
        assertEquals(stopId, stopped.at("/meta_info/finish_reason/matched").asInt());
    }

    @Test
    void requestIdIsReported() {
        ObjectNode req = request(ids(fixture.prompts()[1]), 2).put("rid", "my-request-7");
        assertEquals("my-request-7", live.post("/generate", req).json().at("/meta_info/id").asText());
    }

    @Test
    void metricsCountTheWork() {
        double before = live.metric("kiln_generation_tokens_total");
        double requestsBefore = live.metric("kiln_e2e_request_latency_seconds_count");
        double prefillSteps = live.metric("kiln_prefill_steps_total"), prefillTokens = live.metric("kiln_prefill_step_tokens_total");
        double decodeSteps = live.metric("kiln_decode_steps_total"), decodeSeconds = live.metric("kiln_decode_step_seconds_total");
        live.post("/generate", request(ids(fixture.prompts()[1]), 7));
        assertEquals(before + 7, live.metric("kiln_generation_tokens_total"));
        // one prefill step (the prompt, less what the prefix cache holds from earlier tests), six decode steps after it
        live.awaitMetric("kiln_decode_steps_total", decodeSteps + 6);
        assertEquals(prefillSteps + 1, live.metric("kiln_prefill_steps_total"));
        double fed = live.metric("kiln_prefill_step_tokens_total") - prefillTokens;
        assertTrue(fed >= 1 && fed <= fixture.prompts()[1].length, "prompt tokens fed: " + fed);
        assertTrue(live.metric("kiln_decode_step_seconds_total") > decodeSeconds);
        assertTrue(live.metric("kiln_prefill_step_seconds_total") > 0);
        assertTrue(live.metric("kiln_e2e_request_latency_seconds_count") >= requestsBefore + 1);
        assertTrue(live.metric("kiln_time_to_first_token_seconds_count") >= 1);
        assertTrue(live.metric("kiln_inter_token_latency_seconds_count") >= 6);
        assertTrue(live.metric("kiln_requests_total", "finish_reason=\"length\"") >= 1);
        assertEquals(8192, live.metric("kiln_kv_total_tokens"));
        live.awaitMetric("kiln_kv_used_tokens", 0);
        assertEquals(0, live.metric("kiln_num_running_reqs"));
        assertEquals(0, live.metric("kiln_num_queue_reqs"));
        for (String name : List.of("kiln_kv_cached_tokens", "kiln_cache_hit_rate", "kiln_prompt_tokens_total",
                "kiln_cached_prompt_tokens_total", "kiln_retracted_requests_total")) {
            assertFalse(Double.isNaN(live.metric(name)), name + " is exported");
        }
        String text = live.get("/metrics").body();
        assertTrue(text.contains("# TYPE kiln_time_to_first_token_seconds histogram"), text);
        assertTrue(live.get("/metrics").headers().firstValue("Content-Type").orElse("").startsWith("text/plain; version=0.0.4"));
    }

    static double logSoftmax(float[] logits, int row, int vocab, int token) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) max = Math.max(max, logits[row * vocab + i]);
        double sum = 0;
        for (int i = 0; i < vocab; i++) sum += Math.exp(logits[row * vocab + i] - max);
        return logits[row * vocab + token] - max - Math.log(sum);
    }
}
