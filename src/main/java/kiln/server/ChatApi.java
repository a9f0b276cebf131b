package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import kiln.chat.ChatDelta;
import kiln.chat.ChatTemplate;
import kiln.chat.ChatTemplateException;
import kiln.chat.OutputParser;
import kiln.chat.ParsedOutput;
import kiln.chat.ToolCall;
import kiln.chat.ToolCallDelta;
import kiln.engine.Engine;
import kiln.engine.Output;
import kiln.engine.SamplingParams;
import kiln.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * OpenAI's {@code POST /v1/chat/completions}: the conversation rendered with the model's chat template (or
 * --chat-template), {@code reasoning_content} split off by --reasoning-parser, {@code tool_calls} parsed by
 * --tool-call-parser, plain or streamed (with {@code stream_options.include_usage}).
 */
final class ChatApi {
    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");
    /** Template variables Kiln fills from the request, which chat_template_kwargs may not name. */
    private static final Set<String> TEMPLATE_INPUTS = Set.of("messages", "tools", "add_generation_prompt");
    private final Serving serving;
    private final ChatTemplate template;
    private final StructuredOutput structured;

    ChatApi(Serving serving) {
        this.serving = serving;
        this.structured = new StructuredOutput(serving);
        Tokenizer tok = serving.tokenizer;
        String file = serving.options.chatTemplate();
        if (tok == null) template = null;
        else if (file != null) template = ChatTemplate.load(Path.of(file), tok.bosToken().orElse(null), tok.eosToken().orElse(null));
        else template = tok.chatTemplate().orElse(null);
    }

    void register(Routes r) {
        r.post("/v1/chat/completions", Http.guarded(this::chat));
    }

    /** The prompt text of a request's {@code messages} (and {@code tools}), as the model's template renders it. */
    String render(Fields body, boolean addGenerationPrompt) {
        serving.requireTokenizer("a chat conversation");
        if (template == null) {
            throw ApiException.badRequest("this model has no chat template (tokenizer_config.json has none); start the server "
                    + "with --chat-template FILE", "messages");
        }
        Map<String, Object> vars = new LinkedHashMap<>();
        Fields kwargs = body.object("chat_template_kwargs");
        if (kwargs != null) {
            for (var e : kwargs.node().properties()) {
                // these come from the request itself; a second value for one of them would be silently dropped
                if (TEMPLATE_INPUTS.contains(e.getKey())) {
                    throw ApiException.badRequest(kwargs.path(e.getKey()) + " is not allowed: the request's own " + e.getKey()
                            + " fills that template variable", kwargs.path(e.getKey()));
                }
                vars.put(e.getKey(), Json.MAPPER.convertValue(e.getValue(), Object.class));
            }
        }
        vars.put("messages", messages(body));
        List<Object> tools = tools(body);
        if (tools != null) vars.put("tools", tools);
        vars.put("add_generation_prompt", addGenerationPrompt);
        try {
            return template.render(vars);
        } catch (ChatTemplateException e) {
            throw ApiException.badRequest("the chat template refused the conversation: " + e.getMessage(), "messages");
        }
    }

    private final class Request {
        final Fields body;
        final int[] prompt;
        final SamplingParams params;
        final boolean stream, usage, logprobs;
        final String reasoningParser, toolParser;
        final String id = "chatcmpl-" + Engine.newRequestId();
        final long created = OpenAi.now();
        final Logprobs.Namer namer = Logprobs.openAiNamer(serving.tokenizer);

        Request(Fields body) {
            this.body = body;
            serving.checkModel(body.string("model"));
            RequestFields.check(body, RequestFields.Route.CHAT);
            OpenAi.refuseUnsupported(body);
            prompt = serving.requireTokenizer("a chat conversation").encode(render(body, true), false);
            stream = Boolean.TRUE.equals(body.bool("stream"));
            usage = OpenAi.includeUsage(body);
            logprobs = Boolean.TRUE.equals(body.bool("logprobs"));
            Integer top = body.integer("top_logprobs");
            if (top != null && (top < 0 || top > 20)) throw ApiException.badRequest("top_logprobs must be in [0, 20], got " + top, "top_logprobs");
            if (top != null && top > 0 && !logprobs) throw ApiException.badRequest("top_logprobs needs logprobs: true", "top_logprobs");
            int room = Math.max(1, serving.engine.contextLength() - prompt.length);
            SamplingParams.Builder b = SamplingJson.fromOpenAi(body, room);
            if (logprobs) b.returnLogprob(true).topLogprobsNum(top == null ? 0 : top);
            b.constraint(structured.chat(body));
            params = SamplingJson.build(b, "");
            Boolean separate = body.bool("separate_reasoning");
            reasoningParser = separate == null || separate ? serving.options.reasoningParser() : null;
            toolParser = usesTools(body) ? serving.options.toolCallParser() : null;
        }

        String maxTokensField() {
            return body.has("max_completion_tokens") ? "max_completion_tokens" : body.has("max_tokens") ? "max_tokens" : null;
        }
    }

    private void chat(ServerRequest req, ServerResponse res) throws Exception {
        long arrival = System.nanoTime();
        Request r = new Request(Fields.of(Http.body(req)));
        String rid = r.id.substring("chatcmpl-".length());
        try (Generation g = serving.submit(new Serving.Submission(rid, r.prompt, r.params, r.maxTokensField(), r.body.integer("priority")),
                new Serving.Fanout("messages", "n"), arrival, true)) {
            if (r.stream) stream(res, r, g);
            else respond(res, r, g.complete());
        }
    }

    private void respond(ServerResponse res, Request r, Generation g) {
        Output.FinishReason failure = g.failure();
        if (failure != null) throw Aborts.toError(failure);
        ArrayNode choices = Json.array();
        for (Generation.Sample s : g.samples) {
            ParsedOutput parsed = OutputParser.parse(s.text.toString(), r.reasoningParser, r.toolParser);
            ObjectNode c = choices.addObject();
            c.put("index", s.index);
            c.set("message", message(parsed, r.reasoningParser != null));
            if (r.logprobs) {
                Logprobs.appendChat(c.putObject("logprobs").putArray("content"), s.logprobs, r.namer);
            } else {
                c.putNull("logprobs");
            }
            c.put("finish_reason", finishReason(s.finish, !parsed.toolCalls().isEmpty()));
            c.set("matched_stop", OpenAi.matchedStop(s.finish));
        }
        ObjectNode out = envelope(r, "chat.completion");
        out.set("choices", choices);
        out.set("usage", OpenAi.usage(List.of(g)));
        Http.sendJson(res, 200, out);
    }

    private void stream(ServerResponse res, Request r, Generation g) throws InterruptedException {
        int interval = serving.options.streamInterval();
        OutputParser[] parsers = new OutputParser[g.samples.length];
        boolean[] sawCalls = new boolean[g.samples.length];
        for (int i = 0; i < parsers.length; i++) parsers[i] = new OutputParser(r.reasoningParser, r.toolParser);
        try (Sse sse = new Sse(res)) {
            for (Generation.Sample s : g.samples) {
                ObjectNode chunk = envelope(r, "chat.completion.chunk");
                ObjectNode c = chunk.putArray("choices").addObject();
                c.put("index", s.index);
                c.putObject("delta").put("role", "assistant").put("content", "");
                c.putNull("logprobs");
                c.putNull("finish_reason");
                sse.event(chunk);
            }
            Streams.merge(List.of(g), (gi, s) -> {
                if (s.unsentTokens < interval && !s.finished()) return null;
                // as SGLang: a sample the engine failed (a waiting timeout, a shutdown) ends in an error event
                if (s.finished() && Aborts.isFailure(s.finish)) return Http.errorBody(Aborts.toError(s.finish));
                s.unsentTokens = 0;
                String piece = s.text.substring(s.sentTextLength);
                s.sentTextLength = s.text.length();
                ChatDelta d = parsers[s.index].feed(piece);
                if (s.finished()) d = join(d, parsers[s.index].finish());
                if (!d.toolCalls().isEmpty()) sawCalls[s.index] = true;
                boolean newLogprobs = r.logprobs && s.logprobs.size() > s.sentLogprobs;
                if (d.isEmpty() && !newLogprobs && !s.finished()) return null;
                ObjectNode chunk = envelope(r, "chat.completion.chunk");
                ObjectNode c = chunk.putArray("choices").addObject();
                c.put("index", s.index);
                c.set("delta", delta(d));
                if (newLogprobs) {
                    Logprobs.appendChat(c.putObject("logprobs").putArray("content"), s.logprobs.subList(s.sentLogprobs, s.logprobs.size()), r.namer);
                    s.sentLogprobs = s.logprobs.size();
                } else {
                    c.putNull("logprobs");
                }
                c.put("finish_reason", s.finished() ? finishReason(s.finish, sawCalls[s.index]) : null);
                if (s.finished()) c.set("matched_stop", OpenAi.matchedStop(s.finish));
                return chunk;
            }, sse::event);
            if (r.usage) {
                ObjectNode last = envelope(r, "chat.completion.chunk");
                last.putArray("choices");
                last.set("usage", OpenAi.usage(List.of(g)));
                sse.event(last);
            }
            sse.done();
        }
    }

    /** A whole assistant message: content (null when only tool calls came), reasoning_content, tool_calls. */
    static ObjectNode message(ParsedOutput parsed, boolean withReasoning) {
        ObjectNode m = Json.object();
        m.put("role", "assistant");
        boolean calls = !parsed.toolCalls().isEmpty();
        if (calls && parsed.content().isEmpty()) m.putNull("content");
        else m.put("content", parsed.content());
        if (withReasoning) {
            if (parsed.reasoningContent().isEmpty()) m.putNull("reasoning_content");
            else m.put("reasoning_content", parsed.reasoningContent());
        }
        if (calls) {
            ArrayNode tc = m.putArray("tool_calls");
            for (ToolCall call : parsed.toolCalls()) {
                ObjectNode o = tc.addObject();
                o.put("id", call.id());
                o.put("type", ToolCallDelta.TYPE);
                o.putObject("function").put("name", call.name()).put("arguments", call.arguments());
            }
        }
        return m;
    }

    private static ChatDelta join(ChatDelta a, ChatDelta b) {
        if (b.isEmpty()) return a;
        if (a.isEmpty()) return b;
        List<ToolCallDelta> calls = new ArrayList<>(a.toolCalls());
        calls.addAll(b.toolCalls());
        return new ChatDelta(a.reasoningContent() + b.reasoningContent(), a.content() + b.content(), calls);
    }

    /** A stream delta: only the fields that have something new. */
    static ObjectNode delta(ChatDelta d) {
        ObjectNode o = Json.object();
        if (!d.reasoningContent().isEmpty()) o.put("reasoning_content", d.reasoningContent());
        if (!d.content().isEmpty()) o.put("content", d.content());
        if (!d.toolCalls().isEmpty()) {
            ArrayNode calls = o.putArray("tool_calls");
            for (ToolCallDelta t : d.toolCalls()) {
                ObjectNode c = calls.addObject();
                c.put("index", t.index());
                if (t.id() != null) c.put("id", t.id()).put("type", ToolCallDelta.TYPE);
                ObjectNode f = c.putObject("function");
                if (t.name() != null) f.put("name", t.name());
                f.put("arguments", t.arguments());
            }
        }
        return o;
    }

    /** As SGLang: a sample that stopped after emitting tool calls finishes with "tool_calls". */
    static String finishReason(Output.FinishReason f, boolean toolCalls) {
        if (f == null) return null;
        return toolCalls && f.type().equals("stop") ? "tool_calls" : f.type();
    }

    private ObjectNode envelope(Request r, String object) {
        ObjectNode o = Json.object();
        o.put("id", r.id);
        o.put("object", object);
        o.put("created", r.created);
        o.put("model", serving.modelName);
        return o;
    }

    /** OpenAI messages as the template expects them: content parts joined to text, tool calls kept as sent. */
    private static List<Object> messages(Fields body) {
        JsonNode msgs = body.raw("messages");
        if (msgs == null) throw ApiException.badRequest("messages is required", "messages");
        if (!msgs.isArray() || msgs.isEmpty()) throw ApiException.badRequest("messages must be a non-empty list", "messages");
        List<Object> out = new ArrayList<>();
        for (int i = 0; i < msgs.size(); i++) {
            String at = "messages[" + i + "]";
            if (!msgs.get(i).isObject()) throw ApiException.badRequest(at + " must be an object", "messages");
            Fields m = new Fields((ObjectNode) msgs.get(i), at + ".");
            String role = m.string("role");
            if (role == null || !ROLES.contains(role)) {
                throw ApiException.badRequest(at + ".role must be one of system, developer, user, assistant, tool; got " + role, "messages");
            }
            Map<String, Object> msg = new LinkedHashMap<>();
            msg.put("role", role);
            msg.put("content", content(m, role));
            JsonNode calls = m.raw("tool_calls");
            if (calls != null) {
                if (!role.equals("assistant")) throw ApiException.badRequest(at + ".tool_calls is only allowed on assistant messages", "messages");
                msg.put("tool_calls", toolCalls(calls, at + ".tool_calls"));
            }
            for (String key : List.of("tool_call_id", "name", "reasoning_content")) {
                String v = m.string(key);
                if (v != null) msg.put(key, v);
            }
            out.add(msg);
        }
        return out;
    }

    private static String content(Fields m, String role) {
        JsonNode c = m.raw("content");
        if (c == null) {
            if (role.equals("assistant")) return null;
            throw ApiException.badRequest(m.path("content") + " is required for " + role + " messages", "messages");
        }
        if (c.isTextual()) return c.asText();
        if (!c.isArray()) throw ApiException.badRequest(m.path("content") + " must be a string or a list of content parts", "messages");
        StringBuilder text = new StringBuilder();
        for (JsonNode part : c) {
            String type = part.path("type").asText("");
            if (!type.equals("text")) {
                throw ApiException.badRequest(m.path("content") + ": content parts of type '" + type + "' are not supported (text only)", "messages");
            }
            if (!part.path("text").isTextual()) throw ApiException.badRequest(m.path("content") + ": a text part needs a text string", "messages");
            text.append(part.get("text").asText());
        }
        return text.toString();
    }

    private static List<Object> toolCalls(JsonNode calls, String at) {
        if (!calls.isArray()) throw ApiException.badRequest(at + " must be a list", "messages");
        List<Object> out = new ArrayList<>();
        for (int i = 0; i < calls.size(); i++) {
            JsonNode call = calls.get(i);
            JsonNode f = call.path("function");
            if (!f.path("name").isTextual()) throw ApiException.badRequest(at + "[" + i + "].function.name must be a string", "messages");
            JsonNode args = f.path("arguments");
            Map<String, Object> fn = new LinkedHashMap<>();
            fn.put("name", f.get("name").asText());
            // OpenAI sends arguments as JSON text, which DeepSeek's template writes as is
            fn.put("arguments", args.isTextual() ? args.asText() : args.isMissingNode() || args.isNull() ? "{}" : args.toString());
            Map<String, Object> c = new LinkedHashMap<>();
            if (call.path("id").isTextual()) c.put("id", call.get("id").asText());
            c.put("type", call.path("type").asText("function"));
            c.put("function", fn);
            out.add(c);
        }
        return out;
    }

    private static List<Object> tools(Fields body) {
        JsonNode tools = body.raw("tools");
        if (tools == null) return null;
        if (!tools.isArray()) throw body.wrongType("tools", "a list of tools", tools);
        List<Object> out = new ArrayList<>();
        for (int i = 0; i < tools.size(); i++) {
            JsonNode t = tools.get(i);
            if (!t.path("type").asText("function").equals("function") || !t.path("function").path("name").isTextual()) {
                throw ApiException.badRequest("tools[" + i + "] must be {\"type\": \"function\", \"function\": {\"name\": ...}}", "tools");
            }
            out.add(Json.MAPPER.convertValue(t, Object.class));
        }
        return out;
    }

    /** Whether the tool-call parser should look at the output: tools given and tool_choice not "none". */
    private static boolean usesTools(Fields body) {
        JsonNode choice = body.raw("tool_choice");
        boolean none = choice != null && choice.isTextual() && choice.asText().equals("none");
        JsonNode tools = body.raw("tools");
        return !none && tools != null && !tools.isEmpty();
    }
}
