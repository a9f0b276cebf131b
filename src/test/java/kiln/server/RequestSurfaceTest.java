package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The request surface beyond sampling, on live servers with the default model: chat_template_kwargs reaching a
 * template that reads them, separate_reasoning, priority scheduling, the waiting timeout, and the 400 that every
 * field Kiln does not implement (or does not know) gets. {@code prio} runs with a V3.1-shaped test template,
 * --enable-priority-scheduling and one running place; {@code plain} with one running place and
 * --req-waiting-timeout 0.5.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RequestSurfaceTest {
    private static final String V31_TEMPLATE = "testdata/chat-templates/deepseek-v31-thinking.jinja";
    private LiveServer prio, plain;

    @BeforeAll
    void start() {
        prio = new LiveServer("--chat-template", V31_TEMPLATE, "--reasoning-parser", "deepseek-r1", "--tool-call-parser", "deepseekv31",
                "--enable-priority-scheduling", "--max-running-requests", "1", "--max-total-tokens", "8192", "--enable-metrics",
                "--skip-server-warmup");
        plain = new LiveServer("--max-running-requests", "1", "--req-waiting-timeout", "0.5", "--max-total-tokens", "8192",
                "--enable-metrics", "--skip-server-warmup");
    }

    @AfterAll
    void stop() {
        prio.close();
        plain.close();
    }

    private static String user(String content) {
        return "[{\"role\": \"user\", \"content\": \"" + content + "\"}]";
    }

    private JsonNode tokens(LiveServer server, String body) {
        LiveServer.Response r = server.post("/v1/tokenize", body);
        assertEquals(200, r.status(), r.body());
        return r.json().get("tokens");
    }

    @Test
    void chatTemplateKwargsReachTheTemplate() {
        JsonNode thinking = tokens(prio, "{\"messages\": " + user("Hi") + ", \"chat_template_kwargs\": {\"thinking\": true}}");
        JsonNode notThinking = tokens(prio, "{\"messages\": " + user("Hi") + ", \"chat_template_kwargs\": {\"thinking\": false}}");
        JsonNode absent = tokens(prio, "{\"messages\": " + user("Hi") + "}");
        JsonNode unread = tokens(prio, "{\"messages\": " + user("Hi") + ", \"chat_template_kwargs\": {\"enable_thinking\": true}}");
        String bos = "<｜begin▁of▁sentence｜>";
        assertEquals(tokens(prio, "{\"prompt\": \"" + bos + "<｜User｜>Hi<｜Assistant｜><think>\", \"add_special_tokens\": false}"), thinking);
        assertEquals(tokens(prio, "{\"prompt\": \"" + bos + "<｜User｜>Hi<｜Assistant｜></think>\", \"add_special_tokens\": false}"), notThinking);
        assertNotEquals(thinking, notThinking);
        assertEquals(notThinking, absent, "the template's default: thinking false");
        assertEquals(absent, unread, "a key the template does not read is passed and changes nothing");

        String[][] bad = {
                {"\"chat_template_kwargs\": \"thinking\"", "chat_template_kwargs", "must be an object"},
                {"\"chat_template_kwargs\": [true]", "chat_template_kwargs", "must be an object"},
                {"\"chat_template_kwargs\": {\"messages\": []}", "chat_template_kwargs.messages", "not allowed"},
                {"\"chat_template_kwargs\": {\"add_generation_prompt\": false}", "chat_template_kwargs.add_generation_prompt", "not allowed"},
        };
        for (String[] c : bad) {
            LiveServer.Response r = prio.post("/v1/chat/completions", "{\"messages\": " + user("Hi") + ", \"max_tokens\": 1, " + c[0] + "}");
            assertEquals(400, r.status(), c[0] + " -> " + r.body());
            assertEquals(c[1], r.json().at("/error/param").asText(), r.body());
            assertTrue(r.json().at("/error/message").asText().contains(c[2]), r.body());
        }
        LiveServer.Response ok = prio.post("/v1/chat/completions", "{\"messages\": " + user("Hi") + ", \"max_tokens\": 2, "
                + "\"chat_template_kwargs\": {\"thinking\": true}}");
        assertEquals(200, ok.status(), ok.body());
        assertEquals(thinking.size(), ok.json().at("/usage/prompt_tokens").asInt(), "the chat route renders the same prompt");
    }

    @Test
    void separateReasoningFalseKeepsTheReasoningInContent() {
        ObjectNode body = (ObjectNode) LiveServer.json("{\"messages\": " + user("Why is the sky blue?") + ", \"max_tokens\": 16, \"temperature\": 0}");
        JsonNode split = prio.post("/v1/chat/completions", body).json().at("/choices/0/message");
        String reasoning = split.get("reasoning_content").asText();
        // the dummy model never writes </think> here, so with the R1 parser all of its text is reasoning
        assertFalse(reasoning.isEmpty(), split.toString());
        assertEquals("", split.get("content").asText(), split.toString());

        body.put("separate_reasoning", false);
        JsonNode joined = prio.post("/v1/chat/completions", body).json().at("/choices/0/message");
        assertEquals(reasoning, joined.get("content").asText(), "the same text, as content");
        assertFalse(joined.has("reasoning_content"), joined.toString());

        body.put("stream", true);
        StringBuilder content = new StringBuilder();
        for (JsonNode chunk : prio.stream("/v1/chat/completions", body)) {
            JsonNode delta = chunk.at("/choices/0/delta");
            assertFalse(delta.has("reasoning_content"), chunk.toString());
            content.append(delta.path("content").asText(""));
        }
        assertEquals(reasoning, content.toString());

        body.put("separate_reasoning", true);
        StringBuilder streamedReasoning = new StringBuilder();
        for (JsonNode chunk : prio.stream("/v1/chat/completions", body)) {
            JsonNode delta = chunk.at("/choices/0/delta");
            streamedReasoning.append(delta.path("reasoning_content").asText(""));
            assertEquals("", delta.path("content").asText(""), chunk.toString());
        }
        assertEquals(reasoning, streamedReasoning.toString());

        LiveServer.Response wrong = prio.post("/v1/chat/completions", "{\"messages\": " + user("x") + ", \"separate_reasoning\": \"no\"}");
        assertEquals(400, wrong.status());
        assertEquals("separate_reasoning", wrong.json().at("/error/param").asText());
    }

    private static CompletableFuture<HttpResponse<String>> postAsync(HttpClient client, LiveServer server, String path, String body) {
        return client.sendAsync(HttpRequest.newBuilder(URI.create(server.url + path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** A /generate request that holds the only running place until it is aborted by its rid. */
    private static String blocker(String rid, String priority) {
        return "{\"rid\": \"" + rid + "\", \"input_ids\": [5, 6, 7], " + (priority == null ? "" : "\"priority\": " + priority + ", ")
                + "\"sampling_params\": {\"max_new_tokens\": 4000, \"temperature\": 0, \"ignore_eos\": true}}";
    }

    @Test
    void theWaitingQueueIsServedByPriority() throws Exception {
        // two prompts that share a 64-token prefix: whichever runs second finds it cached, so cached_tokens shows the order
        StringBuilder prefix = new StringBuilder();
        for (int i = 0; i < 64; i++) prefix.append(300 + i).append(", ");
        String low = "{\"rid\": \"low\", \"priority\": 1, \"input_ids\": [" + prefix + "901], \"sampling_params\": {\"max_new_tokens\": 3}}";
        String high = "{\"rid\": \"high\", \"priority\": 5, \"input_ids\": [" + prefix + "902], \"sampling_params\": {\"max_new_tokens\": 3}}";
        try (HttpClient client = HttpClient.newHttpClient()) {
            var running = postAsync(client, prio, "/generate", blocker("blocker", "1000"));
            prio.awaitMetric("kiln_num_running_reqs", 1);
            var lowDone = postAsync(client, prio, "/generate", low);
            prio.awaitMetric("kiln_num_queue_reqs", 1);
            var highDone = postAsync(client, prio, "/generate", high);
            prio.awaitMetric("kiln_num_queue_reqs", 2);
            assertEquals(200, prio.post("/abort_request", "{\"rid\": \"blocker\"}").status());
            assertEquals("abort", LiveServer.json(running.get(60, TimeUnit.SECONDS).body()).at("/meta_info/finish_reason/type").asText());
            JsonNode h = LiveServer.json(highDone.get(60, TimeUnit.SECONDS).body()), l = LiveServer.json(lowDone.get(60, TimeUnit.SECONDS).body());
            assertEquals(0, h.at("/meta_info/cached_tokens").asInt(), "the later but higher request ran first: " + h);
            assertEquals(64, l.at("/meta_info/cached_tokens").asInt(), "the lower one ran after it: " + l);
        }
        prio.awaitMetric("kiln_num_running_reqs", 0);
        prio.server.engine().checkIntegrity();

        LiveServer.Response wrongType = prio.post("/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 1, \"priority\": \"high\"}");
        assertEquals(400, wrongType.status(), wrongType.body());
        assertEquals("priority", wrongType.json().at("/error/param").asText());
        assertEquals(200, prio.post("/v1/chat/completions", "{\"messages\": " + user("x") + ", \"max_tokens\": 1, \"priority\": -4}").status());
    }

    @Test
    void withoutPrioritySchedulingAPriorityIsRefusedOnEveryRoute() {
        String[][] requests = {
                {"/generate", "{\"text\": \"x\", \"priority\": 3, \"sampling_params\": {\"max_new_tokens\": 1}}"},
                {"/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 1, \"priority\": 3}"},
                {"/v1/chat/completions", "{\"messages\": " + user("x") + ", \"max_tokens\": 1, \"priority\": 3}"},
        };
        for (String[] r : requests) {
            LiveServer.Response res = plain.post(r[0], r[1]);
            assertEquals(400, res.status(), r[0] + " -> " + res.body());
            assertEquals("priority", res.json().at("/error/param").asText(), res.body());
            assertTrue(res.json().at("/error/message").asText().contains("--enable-priority-scheduling"), res.body());
        }
    }

    @Test
    void aRequestThatWaitsPastTheTimeoutGets503OrAnErrorEvent() throws Exception {
        try (HttpClient client = HttpClient.newHttpClient()) {
            var running = postAsync(client, plain, "/generate", blocker("timeout-blocker", null));
            plain.awaitMetric("kiln_num_running_reqs", 1);
            List<CompletableFuture<HttpResponse<String>>> waiting = new ArrayList<>();
            waiting.add(postAsync(client, plain, "/v1/chat/completions", "{\"messages\": " + user("x") + ", \"max_tokens\": 2}"));
            waiting.add(postAsync(client, plain, "/generate", "{\"text\": \"x\", \"sampling_params\": {\"max_new_tokens\": 2}}"));
            waiting.add(postAsync(client, plain, "/v1/chat/completions", "{\"messages\": " + user("x") + ", \"max_tokens\": 2, \"stream\": true}"));
            waiting.add(postAsync(client, plain, "/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 2, \"stream\": true}"));
            for (int i = 0; i < 2; i++) {
                HttpResponse<String> r = waiting.get(i).get(60, TimeUnit.SECONDS);
                assertEquals(503, r.statusCode(), r.body());
                assertTrue(r.headers().firstValue("Retry-After").isPresent());
                JsonNode error = LiveServer.json(r.body()).get("error");
                assertTrue(error.get("message").asText().startsWith("Request waiting timeout reached"), r.body());
                assertEquals("service_unavailable", error.get("code").asText());
            }
            for (int i = 2; i < 4; i++) {
                HttpResponse<String> r = waiting.get(i).get(60, TimeUnit.SECONDS);
                assertEquals(200, r.statusCode(), "a stream has begun before the timeout: " + r.body());
                String[] events = r.body().split("\n\n");
                assertEquals("data: [DONE]", events[events.length - 1]);
                JsonNode last = LiveServer.json(events[events.length - 2].substring("data: ".length()));
                assertTrue(last.at("/error/message").asText().startsWith("Request waiting timeout reached"), r.body());
                assertEquals("server_error", last.at("/error/type").asText());
            }
            assertFalse(running.isDone(), "the running request is not waiting and is not timed out");
            assertEquals(200, plain.post("/abort_request", "{\"rid\": \"timeout-blocker\"}").status());
            running.get(60, TimeUnit.SECONDS);
        }
        plain.awaitMetric("kiln_num_running_reqs", 0);
        plain.awaitMetric("kiln_num_queue_reqs", 0);
        plain.server.engine().checkIntegrity();
        assertEquals(200, plain.post("/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 2}").status(), "an unqueued request is served");
    }

    @Test
    void fieldsKilnDoesNotImplementOrKnowAreRefusedByName() {
        String chat = "{\"messages\": " + user("x") + ", \"max_tokens\": 1, %s}";
        String completion = "{\"prompt\": \"x\", \"max_tokens\": 1, %s}";
        String generate = "{\"text\": \"x\", \"sampling_params\": {\"max_new_tokens\": 1}, %s}";
        String[][] refused = {
                {"/v1/chat/completions", chat, "\"custom_logit_processor\": \"{}\"", "custom_logit_processor", "not supported"},
                {"/v1/chat/completions", chat, "\"return_hidden_states\": true", "return_hidden_states", "not supported"},
                {"/v1/chat/completions", chat, "\"parallel_tool_calls\": false", "parallel_tool_calls", "not supported"},
                {"/v1/chat/completions", chat, "\"stream_reasoning\": false", "stream_reasoning", "not supported"},
                {"/v1/chat/completions", chat, "\"store\": true", "store", "not supported"},
                {"/v1/chat/completions", chat, "\"lora_path\": \"a\"", "lora_path", "LoRA"},
                {"/v1/chat/completions", chat, "\"rid\": \"mine\"", "rid", "/generate takes rid"},
                {"/v1/chat/completions", chat, "\"temprature\": 0", "temprature", "unknown field"},
                {"/v1/chat/completions", chat, "\"stream_options\": {\"continuous_usage_stats\": true}", "stream_options.continuous_usage_stats", "not supported"},
                {"/v1/chat/completions", chat, "\"stream_options\": {\"usage\": true}", "stream_options.usage", "unknown field"},
                {"/v1/completions", completion, "\"echo_prompt\": true", "echo_prompt", "unknown field"},
                {"/v1/completions", completion, "\"session_params\": {\"id\": \"s\"}", "session_params", "sessions"},
                {"/v1/completions", completion, "\"chat_template_kwargs\": {}", "chat_template_kwargs", "unknown field"},
                {"/v1/completions", completion, "\"stop_regex\": \"a+\"", "stop_regex", "not supported"},
                {"/generate", generate, "\"return_hidden_states\": true", "return_hidden_states", "not supported"},
                {"/generate", generate, "\"custom_logit_processor\": \"{}\"", "custom_logit_processor", "not supported"},
                {"/generate", generate, "\"image_data\": \"a.png\"", "image_data", "images"},
                {"/generate", generate, "\"sampling_param\": {}", "sampling_param", "unknown field"},
                {"/generate", generate, "\"log_metrics\": false", "log_metrics", "not supported"},
        };
        for (String[] c : refused) {
            LiveServer.Response r = plain.post(c[0], c[1].formatted(c[2]));
            assertEquals(400, r.status(), c[0] + " " + c[2] + " -> " + r.body());
            assertEquals(c[3], r.json().at("/error/param").asText(), c[0] + " " + c[2] + " -> " + r.body());
            assertTrue(r.json().at("/error/message").asText().contains(c[4]), c[0] + " " + c[2] + " -> " + r.body());
        }
        // the values that ask for nothing, and informational fields, are served
        String[][] accepted = {
                {"/v1/chat/completions", chat, "\"return_hidden_states\": false, \"parallel_tool_calls\": true, \"user\": \"u-1\", \"store\": false, \"metadata\": {}"},
                {"/v1/chat/completions", chat, "\"stream_reasoning\": true, \"custom_params\": {}, \"lora_path\": null, \"stream_options\": {\"include_usage\": false}"},
                {"/v1/completions", completion, "\"return_hidden_states\": false, \"user\": \"u-1\", \"no_stop_trim\": false"},
                {"/generate", generate, "\"return_hidden_states\": false, \"log_metrics\": true, \"lora_path\": null"},
        };
        for (String[] c : accepted) {
            LiveServer.Response r = plain.post(c[0], c[1].formatted(c[2]));
            assertEquals(200, r.status(), c[0] + " " + c[2] + " -> " + r.body());
        }
    }

    /** The fields an unknown-field 400 lists are those the route reads: none it always refuses, every one it serves. */
    @Test
    void anUnknownFieldListsOnlyTheFieldsTheRouteReads() {
        String[][] routes = {
                {"/v1/chat/completions", "{\"messages\": " + user("x") + ", \"max_tokens\": 1, \"temprature\": 0}"},
                {"/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 1, \"temprature\": 0}"},
                {"/generate", "{\"text\": \"x\", \"temprature\": 0}"},
        };
        for (String[] c : routes) {
            LiveServer.Response r = plain.post(c[0], c[1]);
            assertEquals(400, r.status(), r.body());
            String message = r.json().at("/error/message").asText();
            int colon = message.lastIndexOf(": ");
            assertTrue(message.startsWith("unknown field temprature") && colon > 0, message);
            java.util.Set<String> listed = java.util.Set.of(message.substring(colon + 2).split(", "));
            for (String always : List.of("guided_choice", "guided_json", "structured_outputs", "structural_tag", "reasoning_effort", "suffix")) {
                assertFalse(listed.contains(always), c[0] + " lists " + always + ", which it always refuses: " + message);
            }
            assertTrue(listed.containsAll(c[0].equals("/generate") ? List.of("text", "sampling_params", "rid")
                    : List.of("max_tokens", "temperature", "n", "logit_bias", "response_format", "best_of")), message);
        }
        // the refused ones are refused by name all the same
        for (String field : List.of("\"guided_choice\": [\"a\"]", "\"reasoning_effort\": \"low\"", "\"suffix\": \"z\"",
                "\"structural_tag\": {}", "\"structured_outputs\": {\"choice\": [\"a\"]}")) {
            LiveServer.Response r = plain.post("/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 1, " + field + "}");
            assertEquals(400, r.status(), field + " -> " + r.body());
            assertTrue(field.startsWith("\"" + r.json().at("/error/param").asText() + "\""), field + " -> " + r.body());
            assertTrue(r.json().at("/error/message").asText().contains("not supported"), field + " -> " + r.body());
        }
    }
}
