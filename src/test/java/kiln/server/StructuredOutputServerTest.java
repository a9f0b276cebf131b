package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.InputFormat;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SchemaRegistryConfig;
import com.networknt.schema.SpecificationVersion;
import kiln.grammar.GrammarCompiler;
import kiln.tokenizer.Tokenizer;
import kiln.tokenizer.Tokenizers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Structured output through the HTTP routes of a live `kiln serve` (the embedded default model: DeepSeek's tokenizer,
 * dummy weights) at temperature 1 with fixed seeds: the schema corpus of testdata/grammar/json-schemas.json (OpenAI's
 * structured-output examples, function-calling parameters, recursion, anyOf, enums, formats, bounds, item counts)
 * sent at once over chat, completions and /generate, in compact JSON and in the default mode that allows whitespace
 * between tokens, each output parsed and validated by networknt's JSON Schema validator; regex and EBNF outputs
 * matched; tool_choice "required" and named producing tool calls whose arguments validate; logit_bias forcing and
 * banning; a reasoning parser deferring the grammar to after {@code </think>}; and the 400s of invalid requests.
 *
 * <p>Dummy weights spread their probability over the whole vocabulary, so a free JSON string or number rarely
 * closes on its own (a quote is one allowed token among 125,000): without help, 30 of the corpus's 51 compact
 * outputs were still going after 600 tokens. The JSON requests therefore add a logit_bias on the tokens that close
 * strings, numbers and containers, which the grammar still masks where they are not allowed. Whitespace needs no
 * such help: the grammar caps each run of it ({@link GrammarCompiler#MAX_WHITESPACE_RUN}), so in the default mode
 * such a model fills the run up to the cap and then must go on (its outputs take about 15% more tokens than the
 * compact ones). Most tests use the server with --constrained-json-disable-any-whitespace; the corpus runs on both.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StructuredOutputServerTest {
    private static final SchemaRegistry VALIDATORS = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12,
            b -> b.schemaRegistryConfig(SchemaRegistryConfig.builder().formatAssertionsEnabled(true).build()));
    private static final tools.jackson.databind.ObjectMapper EXACT_NUMBERS = tools.jackson.databind.json.JsonMapper.builder()
            .enable(tools.jackson.databind.DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS).build();
    private static final int MAX_TOKENS = 600;

    /** live: compact JSON (--constrained-json-disable-any-whitespace); spaced: the default, whitespace between tokens. */
    private LiveServer live, spaced, thinking;
    private final Tokenizer tokenizer = Tokenizers.bundled();
    private ObjectNode closers;

    @BeforeAll
    void start() {
        live = new LiveServer("--tool-call-parser", "deepseekv3", "--constrained-json-disable-any-whitespace", "--max-total-tokens", "65536");
        spaced = new LiveServer("--tool-call-parser", "deepseekv3", "--max-total-tokens", "65536");
        thinking = new LiveServer("--reasoning-parser", "deepseek-r1", "--tool-call-parser", "deepseekv3",
                "--constrained-json-disable-any-whitespace", "--max-total-tokens", "16384");
        closers = LiveServer.JSON.createObjectNode();
        for (String s : List.of("\"", "\",", "\"}", "\"]", ",", "}", "]", "},", "}]", "],", "]}")) {
            int[] ids = tokenizer.encode(s, false);
            if (ids.length == 1) closers.put(Integer.toString(ids[0]), 8);
        }
    }

    @AfterAll
    void stop() {
        live.close();
        spaced.close();
        thinking.close();
    }

    private record Case(String name, JsonNode schema) {}

    private static List<Case> corpus() throws Exception {
        List<Case> out = new ArrayList<>();
        for (JsonNode c : LiveServer.JSON.readTree(Files.readString(Path.of("testdata", "grammar", "json-schemas.json")))) {
            out.add(new Case(c.get("name").asText(), c.get("schema")));
        }
        return out;
    }

    /** One request of the corpus, on route {@code route % 3}: chat with response_format, completions with it, /generate's json_schema. */
    private String generate(LiveServer server, Case c, int route, long seed) {
        ObjectNode body = LiveServer.JSON.createObjectNode();
        String path = switch (route % 3) {
            case 0 -> {
                body.putArray("messages").addObject().put("role", "user").put("content", "Answer as JSON: " + c.name());
                yield "/v1/chat/completions";
            }
            case 1 -> {
                body.put("prompt", "Answer as JSON: " + c.name());
                yield "/v1/completions";
            }
            default -> {
                body.put("text", "Answer as JSON: " + c.name());
                yield "/generate";
            }
        };
        if (path.equals("/generate")) {
            ObjectNode sp = body.putObject("sampling_params");
            sp.put("temperature", 1).put("seed", seed).put("max_new_tokens", MAX_TOKENS).put("json_schema", c.schema().toString());
            sp.set("logit_bias", closers);
        } else {
            body.put("temperature", 1).put("seed", seed).put("max_tokens", MAX_TOKENS);
            body.set("logit_bias", closers);
            ObjectNode rf = body.putObject("response_format").put("type", "json_schema");
            rf.putObject("json_schema").put("name", c.name().replace('-', '_')).put("strict", true).set("schema", c.schema());
        }
        LiveServer.Response r = server.post(path, body);
        assertEquals(200, r.status(), c.name() + ": " + r.body());
        JsonNode j = r.json();
        String finish, text;
        if (path.equals("/generate")) {
            finish = j.path("meta_info").path("finish_reason").path("type").asText();
            text = j.get("text").asText();
        } else if (path.equals("/v1/completions")) {
            finish = j.path("choices").get(0).path("finish_reason").asText();
            text = j.path("choices").get(0).get("text").asText();
        } else {
            finish = j.path("choices").get(0).path("finish_reason").asText();
            text = j.path("choices").get(0).path("message").path("content").asText();
        }
        assertEquals("stop", finish, c.name() + " on " + path + (server == spaced ? "" : " (compact)") + " did not end its grammar within "
                + MAX_TOKENS + " tokens: " + text);
        return text;
    }

    @Test
    void everySchemaOfTheCorpusGivesValidOutputOnEveryRoute() throws Exception {
        List<Case> cases = corpus();
        assertTrue(cases.size() >= 40, cases.size() + " schemas");
        // each schema twice, on two different routes: compact, and in the default mode (whitespace between tokens);
        // across the corpus each mode covers every route
        List<Future<String>> compact = new ArrayList<>(), withWhitespace = new ArrayList<>();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < cases.size(); i++) {
                Case c = cases.get(i);
                int at = i;
                compact.add(pool.submit(() -> generate(live, c, at, 1000 + at)));
                withWhitespace.add(pool.submit(() -> generate(spaced, c, at + 1, 2000 + at)));
            }
        }
        List<String> wrong = new ArrayList<>();
        int longestRun = 0;
        for (int i = 0; i < cases.size(); i++) {
            Case c = cases.get(i);
            for (boolean isCompact : new boolean[] {true, false}) {
                String text = (isCompact ? compact : withWhitespace).get(i).get();
                String where = c.name() + (isCompact ? " (compact)" : "");
                Schema validator = VALIDATORS.getSchema(c.schema().toString(), InputFormat.JSON);
                try {
                    LiveServer.JSON.readTree(text);
                } catch (Exception e) {
                    wrong.add(where + ": not JSON: " + text);
                    continue;
                }
                // numbers as BigDecimal: a JSON number need not fit a double, and the grammar does not promise one
                var errors = validator.validate(EXACT_NUMBERS.readTree(text));
                if (!errors.isEmpty()) wrong.add(where + ": " + errors + " in " + text);
                int run = longestWhitespaceRun(text);
                if (run > (isCompact ? 0 : GrammarCompiler.MAX_WHITESPACE_RUN)) wrong.add(where + ": a run of " + run + " whitespace characters in " + text);
                if (!isCompact) longestRun = Math.max(longestRun, run);
            }
        }
        assertEquals(List.of(), wrong);
        assertTrue(longestRun > 0, "no output of the default mode put whitespace between its tokens");
    }

    /** The longest run of whitespace between a JSON text's tokens (outside its strings): what the grammar caps. */
    private static int longestWhitespaceRun(String json) {
        int longest = 0, run = 0;
        boolean inString = false;
        for (int i = 0; i < json.length(); i++) {
            char ch = json.charAt(i);
            if (inString) {
                if (ch == '\\') i++;
                else if (ch == '"') inString = false;
            } else if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
                longest = Math.max(longest, ++run);
            } else {
                run = 0;
                inString = ch == '"';
            }
        }
        return longest;
    }

    private static final String ARITHMETIC = """
            root ::= expr "="
            expr ::= term (("+" | "-") term){0,4}
            term ::= [1-9] [0-9]? | "(" expr ")"
            """;

    @Test
    void regexAndEbnfOutputsMatch() throws Exception {
        String email = "[a-z]{2,8}\\.[a-z]{2,8}@(example|test)\\.(com|org|net)";
        String date = "20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])";
        Pattern arithmetic = Pattern.compile("[-+()0-9]+=");
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<JsonNode>> outs = new ArrayList<>();
            for (int seed = 0; seed < 3; seed++) {
                for (String[] c : new String[][] {{"regex", email}, {"regex", date}, {"ebnf", ARITHMETIC}}) {
                    ObjectNode body = LiveServer.JSON.createObjectNode().put("text", "Write it: ");
                    body.putObject("sampling_params").put("temperature", 1).put("seed", seed).put("max_new_tokens", 200).put(c[0], c[1]);
                    outs.add(pool.submit(() -> live.post("/generate", body).json()));
                }
            }
            for (int i = 0; i < outs.size(); i++) {
                JsonNode j = outs.get(i).get();
                String text = j.path("text").asText();
                assertEquals("stop", j.at("/meta_info/finish_reason/type").asText(), j.toString());
                switch (i % 3) {
                    case 0 -> assertTrue(text.matches(email), text);
                    case 1 -> assertTrue(text.matches(date), text);
                    default -> assertTrue(arithmetic.matcher(text).matches() && balanced(text), text);
                }
            }
        }
        // the same fields as extra body fields of the OpenAI routes (as SGLang takes them)
        ObjectNode body = LiveServer.JSON.createObjectNode().put("prompt", "Date: ").put("temperature", 1).put("seed", 4).put("max_tokens", 50)
                .put("regex", date);
        JsonNode c = live.post("/v1/completions", body).json();
        assertTrue(c.at("/choices/0/text").asText().matches(date), c.toString());
        ObjectNode chat = LiveServer.JSON.createObjectNode().put("temperature", 1).put("seed", 5).put("max_tokens", 80).put("ebnf", ARITHMETIC);
        chat.putArray("messages").addObject().put("role", "user").put("content", "Sum?");
        JsonNode m = live.post("/v1/chat/completions", chat).json();
        String text = m.at("/choices/0/message/content").asText();
        assertTrue(arithmetic.matcher(text).matches() && balanced(text), m.toString());
    }

    private static boolean balanced(String s) {
        int depth = 0;
        for (char ch : s.toCharArray()) {
            if (ch == '(') depth++;
            if (ch == ')' && --depth < 0) return false;
        }
        return depth == 0;
    }

    @Test
    void jsonObjectSeveralSamplesAndStreaming() {
        ObjectNode body = LiveServer.JSON.createObjectNode().put("temperature", 1).put("seed", 11).put("max_tokens", MAX_TOKENS).put("n", 3);
        body.putArray("messages").addObject().put("role", "user").put("content", "Any JSON object");
        body.putObject("response_format").put("type", "json_object");
        body.set("logit_bias", closers);
        JsonNode r = live.post("/v1/chat/completions", body).json();
        assertEquals(3, r.get("choices").size(), r.toString());
        for (JsonNode choice : r.get("choices")) {
            assertEquals("stop", choice.get("finish_reason").asText(), choice.toString());
            assertTrue(LiveServer.json(choice.at("/message/content").asText()).isObject(), choice.toString());
        }
        // streamed: the deltas join to a document valid under the schema
        String schema = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":12},\"days\":{\"type\":\"array\","
                + "\"items\":{\"enum\":[\"mon\",\"tue\",\"wed\"]},\"minItems\":1,\"maxItems\":3}},\"required\":[\"city\",\"days\"],\"additionalProperties\":false}";
        ObjectNode s = LiveServer.JSON.createObjectNode().put("temperature", 1).put("seed", 12).put("max_tokens", 100).put("stream", true);
        s.putArray("messages").addObject().put("role", "user").put("content", "Plan");
        s.putObject("response_format").put("type", "json_schema").putObject("json_schema").put("name", "plan").set("schema", LiveServer.json(schema));
        s.set("logit_bias", closers);
        StringBuilder text = new StringBuilder();
        String finish = null;
        for (JsonNode chunk : live.stream("/v1/chat/completions", s)) {
            text.append(chunk.at("/choices/0/delta/content").asText(""));
            if (chunk.at("/choices/0/finish_reason").isTextual()) finish = chunk.at("/choices/0/finish_reason").asText();
        }
        assertEquals("stop", finish);
        assertTrue(VALIDATORS.getSchema(schema, InputFormat.JSON).validate(text.toString(), InputFormat.JSON).isEmpty(), text.toString());
    }

    private static final String WEATHER = "{\"type\":\"object\",\"properties\":{\"location\":{\"type\":\"string\",\"maxLength\":20},"
            + "\"unit\":{\"type\":\"string\",\"enum\":[\"celsius\",\"fahrenheit\"]}},\"required\":[\"location\",\"unit\"],\"additionalProperties\":false}";
    private static final String ADD = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\",\"minimum\":-1000,\"maximum\":1000},"
            + "\"b\":{\"type\":\"integer\",\"minimum\":-1000,\"maximum\":1000}},\"required\":[\"a\",\"b\"],\"additionalProperties\":false}";

    private ObjectNode toolRequest(JsonNode toolChoice, long seed) {
        return toolRequest(toolChoice, seed, 300);
    }

    private ObjectNode toolRequest(JsonNode toolChoice, long seed, int maxTokens) {
        ObjectNode body = LiveServer.JSON.createObjectNode().put("temperature", 1).put("seed", seed).put("max_tokens", maxTokens);
        body.putArray("messages").addObject().put("role", "user").put("content", "Weather in Paris, and 2 + 3?");
        ArrayNode tools = body.putArray("tools");
        tools.addObject().put("type", "function").putObject("function").put("name", "get_weather").set("parameters", LiveServer.json(WEATHER));
        tools.addObject().put("type", "function").putObject("function").put("name", "add").set("parameters", LiveServer.json(ADD));
        body.set("tool_choice", toolChoice);
        body.set("logit_bias", closers);
        return body;
    }

    /** Every call names a declared tool and its arguments validate against that tool's parameters. */
    private static List<String> checkCalls(JsonNode choice) {
        assertEquals("tool_calls", choice.get("finish_reason").asText(), choice.toString());
        JsonNode calls = choice.at("/message/tool_calls");
        assertTrue(calls.isArray() && !calls.isEmpty(), choice.toString());
        List<String> names = new ArrayList<>();
        for (JsonNode call : calls) {
            String name = call.at("/function/name").asText();
            names.add(name);
            String schema = switch (name) {
                case "get_weather" -> WEATHER;
                case "add" -> ADD;
                default -> throw new AssertionError("call of an undeclared tool: " + call);
            };
            String args = call.at("/function/arguments").asText();
            assertTrue(VALIDATORS.getSchema(schema, InputFormat.JSON).validate(args, InputFormat.JSON).isEmpty(), name + " " + args);
        }
        return names;
    }

    /**
     * In compact JSON and in the default whitespace mode, whose arguments spend up to 32 whitespace characters at
     * each place (dummy weights fill them), so that a few calls need more tokens than compact ones.
     */
    @Test
    void toolChoiceRequiredAndNamedProduceValidToolCalls() {
        for (LiveServer server : List.of(live, spaced)) {
            int maxTokens = server == live ? 300 : 1500;
            for (long seed = 1; seed <= 3; seed++) {
                JsonNode r = server.post("/v1/chat/completions", toolRequest(LiveServer.JSON.getNodeFactory().textNode("required"), seed, maxTokens)).json();
                checkCalls(r.at("/choices/0"));
                ObjectNode named = LiveServer.JSON.createObjectNode().put("type", "function");
                named.putObject("function").put("name", "add");
                JsonNode n = server.post("/v1/chat/completions", toolRequest(named, seed, maxTokens)).json();
                assertEquals(List.of("add"), checkCalls(n.at("/choices/0")));
            }
        }
    }

    /** DeepSeek-V3.1's format (bare arguments, no fence), read back by --tool-call-parser deepseekv31. */
    @Test
    void toolChoiceWorksWithTheV31Format() {
        try (LiveServer v31 = new LiveServer("--tool-call-parser", "deepseekv31", "--constrained-json-disable-any-whitespace",
                "--max-total-tokens", "16384")) {
            for (long seed = 1; seed <= 2; seed++) {
                checkCalls(v31.post("/v1/chat/completions", toolRequest(LiveServer.JSON.getNodeFactory().textNode("required"), seed))
                        .json().at("/choices/0"));
                ObjectNode named = LiveServer.JSON.createObjectNode().put("type", "function");
                named.putObject("function").put("name", "get_weather");
                assertEquals(List.of("get_weather"), checkCalls(v31.post("/v1/chat/completions", toolRequest(named, seed)).json().at("/choices/0")));
            }
        }
    }

    @Test
    void logitBiasForcesAndBans() {
        int forced = tokenizer.encode(" kiln", false)[0];
        ObjectNode up = LiveServer.JSON.createObjectNode().put("text", "Hello");
        up.putObject("sampling_params").put("temperature", 1).put("seed", 3).put("max_new_tokens", 5).put("ignore_eos", true)
                .putObject("logit_bias").put(Integer.toString(forced), 100);
        for (JsonNode id : live.post("/generate", up).json().get("output_ids")) assertEquals(forced, id.asInt());
        // OpenAI's route: the same token five times
        ObjectNode c = LiveServer.JSON.createObjectNode().put("prompt", "Hello").put("max_tokens", 5).put("ignore_eos", true);
        c.putObject("logit_bias").put(Integer.toString(forced), 100);
        assertEquals(tokenizer.decode(new int[] {forced, forced, forced, forced, forced}, true), live.post("/v1/completions", c).json().at("/choices/0/text").asText());

        ObjectNode greedy = LiveServer.JSON.createObjectNode().put("text", "Hello");
        greedy.putObject("sampling_params").put("temperature", 0).put("max_new_tokens", 6).put("ignore_eos", true);
        int first = live.post("/generate", greedy).json().get("output_ids").get(0).asInt();
        ((ObjectNode) greedy.get("sampling_params")).putObject("logit_bias").put(Integer.toString(first), -100);
        for (JsonNode id : live.post("/generate", greedy).json().get("output_ids")) assertNotEquals(first, id.asInt());
    }

    @Test
    void withAReasoningParserTheGrammarBeginsAfterThinking() {
        String schema = "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":99},\"ok\":{\"type\":\"boolean\"}},"
                + "\"required\":[\"n\",\"ok\"],\"additionalProperties\":false}";
        // this tokenizer (DeepSeek-V3's) writes </think> in three tokens: the grammar waits for the text, not a token
        int[] thinkEnd = tokenizer.encode("</think>", false);
        assertEquals(3, thinkEnd.length);
        ObjectNode body = LiveServer.JSON.createObjectNode().put("temperature", 1).put("seed", 2).put("max_tokens", 12);
        body.putArray("messages").addObject().put("role", "user").put("content", "Count");
        body.putObject("response_format").put("type", "json_schema").putObject("json_schema").put("name", "c").set("schema", LiveServer.json(schema));
        // the model reasons freely first: no JSON in 12 tokens of dummy reasoning, all of it reasoning_content
        JsonNode free = thinking.post("/v1/chat/completions", body).json().at("/choices/0");
        assertEquals("length", free.get("finish_reason").asText(), free.toString());
        assertFalse(free.at("/message/reasoning_content").asText("").isEmpty(), free.toString());
        // once </think> comes (its three tokens made all but certain by a bias, in random order until they meet in
        // the right one; the grammar masks them afterwards) the answer follows the schema
        ObjectNode bias = body.put("max_tokens", 300).putObject("logit_bias");
        for (int t : thinkEnd) bias.put(Integer.toString(t), 100);
        JsonNode answered = thinking.post("/v1/chat/completions", body).json().at("/choices/0");
        assertEquals("stop", answered.get("finish_reason").asText(), answered.toString());
        String content = answered.at("/message/content").asText();
        assertTrue(VALIDATORS.getSchema(schema, InputFormat.JSON).validate(content, InputFormat.JSON).isEmpty(), answered.toString());
        // tool calls too: tool_choice required after the reasoning
        ObjectNode tools = toolRequest(LiveServer.JSON.getNodeFactory().textNode("required"), 4);
        ((ObjectNode) tools.get("tools").get(0).get("function")).put("name", "add2").set("parameters", LiveServer.json(ADD));
        tools.remove("logit_bias");
        tools.set("logit_bias", bias);
        JsonNode called = thinking.post("/v1/chat/completions", tools).json().at("/choices/0");
        assertEquals("tool_calls", called.get("finish_reason").asText(), called.toString());
        for (JsonNode call : called.at("/message/tool_calls")) {
            assertTrue(VALIDATORS.getSchema(ADD, InputFormat.JSON).validate(call.at("/function/arguments").asText(), InputFormat.JSON).isEmpty(), call.toString());
        }
    }

    @Test
    void officialOpenAiNodeSdk() throws Exception {
        int forced = tokenizer.encode(" kiln", false)[0];
        String out = DefaultModelServerTest.runNodeTests("structured-output.test.mjs", live, "sk-unused", java.util.Map.of(
                "KILN_CLOSERS", closers.toString(), "KILN_FORCED", Integer.toString(forced), "KILN_FORCED_TEXT", tokenizer.decode(new int[] {forced}, true)));
        assertTrue(out.contains("pass 4") && out.contains("fail 0"), out);
    }

    @Test
    void invalidConstraintsGet400NamingTheProblem() {
        String[][] cases = {
                // path, body, param, message part
                {"/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
                        + "{\"name\":\"n\",\"schema\":{\"type\":\"integer\",\"minimum\":5,\"maximum\":1}}}}", "response_format.json_schema.schema", "json_schema at #"},
                {"/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
                        + "{\"name\":\"n\",\"schema\":{\"type\":\"object\",\"patternProperties\":{\"a\":{}}}}}}", "response_format.json_schema.schema", "'patternProperties'"},
                {"/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
                        + "{\"name\":\"n\",\"schema\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\",\"multipleOf\":5}}}}}}",
                        "response_format.json_schema.schema", "json_schema at #/properties/n/multipleOf: 'multipleOf' is not supported"},
                {"/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\"}}",
                        "response_format.json_schema", "response_format.json_schema is required"},
                {"/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_object\"},\"regex\":\"a\"}",
                        "regex", "response_format and regex"},
                {"/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"required\",\"tools\":[{\"type\":\"function\","
                        + "\"function\":{\"name\":\"f\"}}],\"response_format\":{\"type\":\"json_object\"}}", "response_format", "tool_choice \"required\" and response_format"},
                {"/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"required\",\"tools\":[{\"type\":\"function\","
                        + "\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"not\":{}}}}]}", "tools[0].function.parameters", "'not'"},
                {"/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"sometimes\"}", "tool_choice", "tool_choice must be"},
                {"/v1/completions", "{\"prompt\":\"x\",\"logit_bias\":{\"5\":150}}", "logit_bias", "logit_bias values must be in [-100, 100]"},
                {"/v1/completions", "{\"prompt\":\"x\",\"logit_bias\":{\"129280\":1}}", "logit_bias", "outside the vocabulary"},
                {"/v1/completions", "{\"prompt\":\"x\",\"logit_bias\":{\"abc\":1}}", "logit_bias", "keys must be token ids"},
                {"/v1/completions", "{\"prompt\":\"x\",\"json_schema\":\"{not json\"}", "json_schema", "json_schema: not valid JSON"},
                {"/generate", "{\"text\":\"x\",\"sampling_params\":{\"regex\":\"(ab\"}}", "sampling_params.regex", "regex at offset"},
                {"/generate", "{\"text\":\"x\",\"sampling_params\":{\"ebnf\":\"root ::= value\"}}", "sampling_params.ebnf", "rule 'value' is not defined"},
                {"/generate", "{\"text\":\"x\",\"sampling_params\":{\"regex\":\"a\",\"ebnf\":\"root ::= \\\"a\\\"\"}}", "sampling_params.ebnf",
                        "sampling_params.regex and sampling_params.ebnf"},
                {"/generate", "{\"text\":\"x\",\"sampling_params\":{\"logit_bias\":{\"7\":-101}}}", "sampling_params.logit_bias", "[-100, 100]"},
                {"/generate", "{\"text\":\"x\",\"sampling_params\":{\"structural_tag\":\"{}\"}}", "sampling_params.structural_tag", "structural tags"},
        };
        for (String[] c : cases) {
            LiveServer.Response r = live.post(c[0], c[1]);
            assertEquals(400, r.status(), c[1] + " -> " + r.body());
            JsonNode e = r.json().get("error");
            assertEquals(c[2], e.path("param").asText(), c[1] + " -> " + r.body());
            assertTrue(e.path("message").asText().contains(c[3]), c[1] + " -> " + r.body());
        }
    }
}
