package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import kiln.model.Fixture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad input gets a clear OpenAI-style error, and no input crashes the server or leaks KV slots. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ServerErrorsTest {
    private LiveServer live;

    @BeforeAll
    void start() {
        live = new LiveServer("--model-path", Fixture.ROOT.resolve("qwen2-tiny").toString(), "--skip-tokenizer-init",
                "--max-total-tokens", "4096", "--context-length", "512", "--enable-metrics", "--skip-server-warmup");
    }

    @AfterAll
    void stop() {
        live.close();
    }

    private static String ids(int n) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < n; i++) b.append(i == 0 ? "" : ",").append(3 + i % 500);
        return b.append("]").toString();
    }

    /** Each body, with the route it goes to: all must be answered 400. */
    static List<String[]> battery() {
        String deep = "[".repeat(200) + "]".repeat(200);
        List<String[]> b = new ArrayList<>();
        for (String body : List.of("", "{bad", "[]", "42", "null", "\"text\"", "{}", "{\"input_ids\": []}", "{\"input_ids\": \"abc\"}",
                "{\"input_ids\": [1.5]}", "{\"input_ids\": [-1]}", "{\"input_ids\": [99999999]}", "{\"input_ids\": [1e20]}",
                "{\"input_ids\": [[]]}", "{\"input_ids\": [[5], 6]}", "{\"input_ids\": [5], \"text\": \"x\"}", "{\"text\": \"hello\"}",
                "{\"input_ids\": " + deep + "}",
                "{\"input_ids\": [5], \"sampling_params\": {\"temperature\": -1}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"temperature\": \"hot\"}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"top_p\": 0}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"top_p\": 1.5}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"top_k\": -5}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"min_p\": 2}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"max_new_tokens\": -1}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"max_new_tokens\": 1e30}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"n\": 0}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"n\": 1000}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"max_tokens\": 5}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"regex\": \"a+\"}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"logit_bias\": {\"5\": 101}}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"logit_bias\": {\"99999999\": 1}}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"structural_tag\": \"{}\"}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"no_stop_trim\": true}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"custom_params\": {\"x\": 1}}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"stream_interval\": 0}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"spaces_between_special_tokens\": \"no\"}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"max_new_tokens\": 2147483647}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"stop\": \"x\"}}",
                "{\"input_ids\": [5], \"sampling_params\": {\"stop_token_ids\": [\"x\"]}}",
                "{\"input_ids\": [5], \"sampling_params\": 5}",
                "{\"input_ids\": [[5], [6]], \"sampling_params\": [{}]}",
                "{\"input_ids\": [5], \"stream\": \"yes\"}",
                "{\"input_ids\": [5, 6], \"return_logprob\": true, \"logprob_start_len\": 2}",
                "{\"input_ids\": [5], \"return_logprob\": true, \"top_logprobs_num\": 100}",
                "{\"input_ids\": [5], \"rid\": 7}",
                "{\"input_ids\": [5], \"image_data\": \"x.png\"}",
                "{\"input_ids\": " + ids(600) + "}")) {
            b.add(new String[]{"/generate", body});
        }
        for (String body : List.of("{}", "{\"prompt\": 5}", "{\"prompt\": []}", "{\"prompt\": [[]]}", "{\"prompt\": [5, \"a\"]}",
                "{\"prompt\": [[5], \"a\"]}", "{\"prompt\": \"text needs a tokenizer\"}",
                "{\"prompt\": [5], \"max_tokens\": -1}", "{\"prompt\": [5], \"max_tokens\": \"ten\"}",
                "{\"prompt\": [5], \"model\": \"no-such-model\"}", "{\"prompt\": [5], \"logprobs\": 50}",
                "{\"prompt\": [5], \"suffix\": \"end\"}", "{\"prompt\": [5], \"temperature\": -0.5}",
                "{\"prompt\": [5], \"logit_bias\": {\"five\": 100}}", "{\"prompt\": [5], \"logit_bias\": {\"5\": \"up\"}}", "{\"prompt\": [5], \"stream_options\": 3}",
                "{\"prompt\": [5], \"guided_choice\": [\"a\", \"b\"]}", "{\"prompt\": [5], \"structured_outputs\": {\"choice\": [\"a\"]}}",
                "{\"prompt\": [5], \"reasoning_effort\": \"low\"}", "{\"prompt\": [5], \"response_format\": \"text\"}",
                "{\"prompt\": [5], \"response_format\": {\"type\": \"json_object\"}}",
                "{\"prompt\": " + ids(500) + ", \"max_tokens\": 100}")) {
            b.add(new String[]{"/v1/completions", body});
        }
        b.add(new String[]{"/abort_request", "{}"});
        b.add(new String[]{"/abort_request", "{\"rid\": 5}"});
        return b;
    }

    @Test
    void malformedInputGets400AndLeaksNothing() {
        for (String[] c : battery()) {
            LiveServer.Response r = live.post(c[0], c[1]);
            String what = c[0] + " " + (c[1].length() > 80 ? c[1].substring(0, 80) + "..." : c[1]);
            assertEquals(400, r.status(), what + " -> " + r.body());
            JsonNode error = r.json().get("error");
            assertTrue(error != null && !error.path("message").asText().isBlank(), what + ": " + r.body());
            assertEquals("invalid_request_error", error.path("type").asText(), what);
            assertTrue(error.has("param") && error.has("code"), what);
        }
        // the server still answers, and every KV slot came back
        LiveServer.Response ok = live.post("/generate", "{\"input_ids\": [5, 6, 7], \"sampling_params\": {\"max_new_tokens\": 3}}");
        assertEquals(200, ok.status(), ok.body());
        assertEquals(3, ok.json().get("output_ids").size());
        live.awaitMetric("kiln_kv_used_tokens", 0);
        assertEquals(0, live.metric("kiln_num_running_reqs"));
        assertEquals(0, live.metric("kiln_num_queue_reqs"));
    }

    @Test
    void errorsNameTheFieldAndTheNumbers() {
        JsonNode e = live.post("/generate", "{\"input_ids\": [5], \"sampling_params\": {\"top_p\": 1.5}}").json().get("error");
        assertEquals("sampling_params.top_p", e.get("param").asText());
        assertTrue(e.get("message").asText().contains("top_p must be in (0, 1]"), e.toString());

        e = live.post("/generate", "{\"input_ids\": " + ids(600) + "}").json().get("error");
        assertTrue(e.get("message").asText().contains("600") && e.get("message").asText().contains("512"), e.toString());

        e = live.post("/v1/completions", "{\"prompt\": " + ids(500) + ", \"max_tokens\": 100}").json().get("error");
        assertTrue(e.get("message").asText().contains("600") && e.get("message").asText().contains("512"), e.toString());
        assertEquals("max_tokens", e.get("param").asText());

        e = live.post("/v1/completions", "{\"prompt\": [5], \"model\": \"no-such-model\"}").json().get("error");
        assertEquals("model_not_found", e.get("code").asText());
        assertEquals("model", e.get("param").asText());

        e = live.post("/generate", "{\"input_ids\": [5], \"sampling_params\": {\"no_stop_trim\": true}}").json().get("error");
        assertEquals("sampling_params.no_stop_trim", e.get("param").asText());
        e = live.post("/v1/completions", "{\"prompt\": [5], \"guided_choice\": [\"a\"]}").json().get("error");
        assertEquals("guided_choice", e.get("param").asText());
        // the values that ask for nothing Kiln lacks are fine
        assertEquals(200, live.post("/generate", "{\"input_ids\": [5], \"sampling_params\": {\"max_new_tokens\": 1, "
                + "\"no_stop_trim\": false, \"logit_bias\": {}, \"spaces_between_special_tokens\": false}}").status());
        assertEquals(200, live.post("/v1/completions", "{\"prompt\": [5], \"max_tokens\": 1, \"response_format\": {\"type\": \"text\"}}").status());

        e = live.post("/generate", "{\"input_ids\": [5], \"sampling_params\": {\"temperature\": \"hot\"}}").json().get("error");
        assertTrue(e.get("message").asText().contains("sampling_params.temperature must be a number"), e.toString());
    }

    @Test
    void unknownRoutesAre404AndWrongMethods405() {
        for (String path : List.of("/v2/generate", "/v1/embeddings", "/", "/v1/models/no-such-model")) {
            LiveServer.Response r = path.equals("/v1/embeddings") ? live.post(path, "{}") : live.get(path);
            assertEquals(404, r.status(), path + " -> " + r.body());
            assertTrue(r.json().at("/error/message").asText().length() > 0);
        }
        LiveServer.Response r = live.get("/generate");
        assertEquals(405, r.status());
        assertEquals("method_not_allowed", r.json().at("/error/code").asText());
    }

    @Test
    void modelsAndInfoDescribeTheServer() {
        JsonNode models = live.get("/v1/models").json();
        assertEquals("list", models.get("object").asText());
        String id = models.at("/data/0/id").asText();
        assertEquals(Fixture.ROOT.resolve("qwen2-tiny").toString(), id);
        assertEquals(512, models.at("/data/0/max_model_len").asInt());
        assertEquals("model", live.get("/v1/models/" + id).json().get("object").asText());
        JsonNode info = live.get("/model_info").json();
        assertTrue(info.get("is_generation").asBoolean());
        assertEquals(info, live.get("/get_model_info").json());
        JsonNode server = live.get("/server_info").json();
        assertEquals(4096, server.get("max_total_num_tokens").asInt());
        assertEquals(4096, server.get("max_total_tokens").asInt());
        assertTrue(server.get("skip_tokenizer_init").asBoolean());
        assertFalse(server.get("version").asText().isEmpty());
        assertEquals(1, server.get("internal_states").size());
        assertEquals(200, live.get("/health").status());
        assertEquals(200, live.get("/health_generate").status());
    }
}
