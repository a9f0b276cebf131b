package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import kiln.chat.ToolCallFormat;
import kiln.chat.ToolCallParser;
import kiln.engine.Constraint;
import kiln.grammar.CompiledGrammar;
import kiln.grammar.GrammarCompiler;
import kiln.grammar.GrammarException;
import kiln.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * A request's structured-output fields compiled into the engine's {@link Constraint}: OpenAI's
 * {@code response_format} (json_schema, json_object), SGLang's {@code json_schema} / {@code regex} / {@code ebnf}
 * (in {@code sampling_params} on /generate, top-level on the OpenAI routes), and on chat {@code tool_choice}
 * "required" or a named function (the tool-call parser's format with each tool's parameter schema). At most one
 * per request. With --reasoning-parser the grammar begins after {@code </think>}: on chat always (the parser reads
 * the output as reasoning first), on the other routes when the prompt ends inside a think block.
 */
final class StructuredOutput {
    /** SGLang's constraint fields, in the order they are reported. */
    private static final List<String> KINDS = List.of("json_schema", "regex", "ebnf");

    /** One constraint as the request gave it: its kind, its text, and the field (full path) that gave it. */
    record Spec(String kind, String text, String field) {}

    /** DeepSeek-R1's reasoning markers (--reasoning-parser deepseek-r1). */
    private static final String THINK_START = "<think>", THINK_END = "</think>";

    private final Serving serving;

    StructuredOutput(Serving serving) {
        this.serving = serving;
    }

    /** SGLang's sampling_params: json_schema (a string, or the schema itself), regex, ebnf; null when none. */
    static Spec sglang(Fields sp) {
        if (sp == null) return null;
        List<Spec> found = new ArrayList<>();
        for (String kind : KINDS) {
            JsonNode v = sp.raw(kind);
            if (v == null) continue;
            if (kind.equals("json_schema") && v.isObject()) found.add(new Spec(kind, v.toString(), sp.path(kind)));
            else found.add(new Spec(kind, sp.string(kind), sp.path(kind)));
        }
        return atMostOne(found);
    }

    /** OpenAI's response_format and the SGLang fields the OpenAI routes take in the body; null when none. */
    static Spec openAi(Fields body) {
        List<Spec> found = new ArrayList<>();
        Spec format = responseFormat(body);
        if (format != null) found.add(format);
        Spec extra = sglang(body);
        if (extra != null) found.add(extra);
        return atMostOne(found);
    }

    private static Spec atMostOne(List<Spec> found) {
        if (found.size() > 1) {
            List<String> fields = found.stream().map(Spec::field).toList();
            throw ApiException.badRequest("give at most one output constraint; the request has " + String.join(" and ", fields), fields.get(1));
        }
        return found.isEmpty() ? null : found.getFirst();
    }

    private static Spec responseFormat(Fields body) {
        Fields f = body.object("response_format");
        if (f == null) return null;
        String type = f.string("type");
        if (type == null) throw ApiException.badRequest("response_format.type is required (text, json_object or json_schema)", "response_format.type");
        return switch (type) {
            case "text" -> null;
            case "json_object" -> new Spec("json_object", "", "response_format");
            case "json_schema" -> {
                Fields js = f.object("json_schema");
                if (js == null) throw ApiException.badRequest("response_format.json_schema is required with type json_schema", "response_format.json_schema");
                js.string("name");
                js.bool("strict");  // the schema is always enforced exactly: strict or not, the output follows it
                JsonNode schema = js.raw("schema");
                if (schema == null) throw ApiException.badRequest("response_format.json_schema.schema is required", "response_format.json_schema.schema");
                if (!schema.isObject() && !schema.isBoolean()) throw js.wrongType("schema", "a JSON schema (an object)", schema);
                yield new Spec("json_schema", schema.toString(), "response_format.json_schema.schema");
            }
            default -> throw ApiException.badRequest("response_format.type " + type + " is not supported; use text, json_object or json_schema",
                    "response_format.type");
        };
    }

    /** The constraint of a /generate or completions prompt (null spec: none). */
    Constraint compile(Spec spec, int[] prompt) {
        if (spec == null) return null;
        return constraint(spec, startInPrompt(prompt));
    }

    /**
     * The constraint of a chat request: its response format or SGLang field, or the tool calls that tool_choice
     * demands (the request's tools must have been checked, as rendering the prompt does).
     */
    Constraint chat(Fields body) {
        ToolChoice toolChoice = ToolChoice.forced(body);
        Spec spec = openAi(body);
        if (toolChoice != null && spec != null) {
            throw ApiException.badRequest("give at most one output constraint; the request has tool_choice " + toolChoice.describe()
                    + " and " + spec.field(), spec.field());
        }
        boolean start = serving.options.reasoningParser() != null;
        if (toolChoice != null) return toolCalls(toolChoice, start);
        return spec == null ? null : constraint(spec, start);
    }

    /**
     * A tool_choice that forces tool calls: "required" (one or more calls of any of {@code tools}) or a named
     * function ({@code tools} holds just it, one call). Each tool is its name and parameter schema.
     */
    record ToolChoice(List<Tool> tools, boolean many) {
        record Tool(String name, String parameters, String field) {}

        /**
         * The calls tool_choice forces: "required" (one or more calls of any tool) or {"type": "function", "function":
         * {"name": ...}} (one call of that tool), each tool with its parameter schema; null for "auto", "none" or absent.
         */
        static ToolChoice forced(Fields body) {
            JsonNode choice = body.raw("tool_choice");
            if (choice == null || choice.isTextual() && (choice.asText().equals("auto") || choice.asText().equals("none"))) return null;
            String named = null;
            if (choice.isObject()) {
                JsonNode name = choice.path("function").path("name");
                if (!choice.path("type").asText("function").equals("function") || !name.isTextual()) {
                    throw ApiException.badRequest("tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": "
                            + "{\"name\": ...}}, got " + Fields.describe(choice), "tool_choice");
                }
                named = name.asText();
            } else if (!(choice.isTextual() && choice.asText().equals("required"))) {
                throw ApiException.badRequest("tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": "
                        + "{\"name\": ...}}, got " + Fields.describe(choice), "tool_choice");
            }
            JsonNode tools = body.raw("tools");
            if (tools == null || !tools.isArray() || tools.isEmpty()) {
                throw ApiException.badRequest("tool_choice " + choice + " needs a non-empty tools list", "tool_choice");
            }
            List<Tool> out = new ArrayList<>();
            for (int i = 0; i < tools.size(); i++) {
                JsonNode f = tools.get(i).path("function");
                String name = f.path("name").asText();
                if (named != null && !named.equals(name)) continue;
                JsonNode params = f.path("parameters");
                // OpenAI: a function without parameters takes none
                String schema = params.isMissingNode() || params.isNull() ? "{\"type\": \"object\", \"properties\": {}}" : params.toString();
                out.add(new Tool(name, schema, "tools[" + i + "].function.parameters"));
                if (named != null) break;
            }
            if (out.isEmpty()) throw ApiException.badRequest("tool_choice names the function '" + named + "', which tools does not declare", "tool_choice");
            return new ToolChoice(out, named == null);
        }

        String describe() {
            return many ? "\"required\"" : "{\"type\": \"function\", \"function\": {\"name\": \"" + tools.getFirst().name() + "\"}}";
        }
    }

    private Constraint toolCalls(ToolChoice choice, boolean start) {
        String parser = serving.options.toolCallParser();
        if (parser == null) {
            throw ApiException.badRequest("tool_choice " + choice.describe() + " needs a tool-call parser to read the calls back; start "
                    + "the server with --tool-call-parser deepseekv3 (or deepseekv31)", "tool_choice");
        }
        ToolCallFormat format = ToolCallParser.format(parser);
        GrammarCompiler compiler = compiler("tool_choice");
        List<GrammarCompiler.Tagged> alternatives = new ArrayList<>();
        for (ToolChoice.Tool t : choice.tools()) {
            try {
                compiler.jsonSchema(t.parameters(), serving.options.jsonAnyWhitespace());
            } catch (GrammarException e) {  // the message names the tool whose schema is wrong
                throw ApiException.badRequest(t.field() + ": " + e.getMessage(), t.field());
            }
            alternatives.add(new GrammarCompiler.Tagged(format.begin(t.name()), t.parameters(), format.end()));
        }
        CompiledGrammar g = compileOrRefuse(() -> compiler.taggedJson(format.open(), alternatives, format.separator(), 1,
                choice.many() ? -1 : 1, format.close(), serving.options.jsonAnyWhitespace()), "tool_choice");
        Constraint c = Constraint.of(g, "tool calls");
        return start ? c.after(THINK_END) : c;
    }

    private Constraint constraint(Spec spec, boolean start) {
        GrammarCompiler compiler = compiler(spec.field());
        CompiledGrammar g = compileOrRefuse(() -> switch (spec.kind()) {
            case "json_schema" -> compiler.jsonSchema(spec.text(), serving.options.jsonAnyWhitespace());
            case "json_object" -> compiler.jsonObject(serving.options.jsonAnyWhitespace());
            case "regex" -> compiler.regex(spec.text());
            case "ebnf" -> compiler.ebnf(spec.text());
            default -> throw new IllegalArgumentException(spec.kind());
        }, spec.field());
        Constraint c = Constraint.of(g, spec.kind());
        return start ? c.after(THINK_END) : c;
    }

    /** Invalid grammars are a 400 whose message is the grammar engine's (it names the kind and where). */
    private static CompiledGrammar compileOrRefuse(Supplier<CompiledGrammar> compile, String field) {
        try {
            return compile.get();
        } catch (GrammarException e) {
            throw ApiException.badRequest(e.getMessage(), field);
        }
    }

    private GrammarCompiler compiler(String field) {
        Tokenizer tok = serving.requireTokenizer("structured output (" + field + ")");
        return GrammarCompiler.of(tok, serving.engine.model().config().vocabSize());
    }

    /**
     * With a reasoning parser, whether the prompt ends inside a think block (its last {@code <think>} after its last
     * {@code </think>}), so that the grammar waits for the reasoning to end.
     */
    private boolean startInPrompt(int[] prompt) {
        if (serving.options.reasoningParser() == null || serving.tokenizer == null) return false;
        String text = serving.tokenizer.decode(prompt, false);
        return text.lastIndexOf(THINK_START) > text.lastIndexOf(THINK_END);
    }
}
