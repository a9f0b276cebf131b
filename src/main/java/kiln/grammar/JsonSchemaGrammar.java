package kiln.grammar;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.TextNode;

import java.math.BigDecimal;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

import static kiln.grammar.Expr.alt;
import static kiln.grammar.Expr.lit;
import static kiln.grammar.Expr.opt;
import static kiln.grammar.Expr.ref;
import static kiln.grammar.Expr.seq;
import static kiln.grammar.Expr.star;

/**
 * JSON Schema to a {@link Grammar}: the subset that OpenAI's strict structured outputs and SGLang accept. Objects
 * list their properties in the schema's order, required ones always, optional ones possibly left out; runs of
 * whitespace up to a cap may sit between tokens (none around the whole value). Sub-schemas that are objects,
 * arrays, constrained strings, bounded numbers or {@code $ref} targets become rules of their own (equal sub-schemas
 * share one), so a recursive {@code $ref} is a recursive rule and the token tables of a shared rule are built once.
 * Details, and what is refused, in docs/grammar.md.
 */
final class JsonSchemaGrammar {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static final Expr.Chars WHITESPACE = Expr.Chars.anyOf(" \t\n\r");
    private static final Expr.Chars HEX = new Expr.Chars(new int[] {'0', '9', 'A', 'F', 'a', 'f'});
    /** Characters a JSON string holds unescaped. */
    private static final Expr.Chars PLAIN = new Expr.Chars(new int[] {0x20, 0x21, 0x23, 0x5B, 0x5D, Expr.Chars.MAX});

    /** Keywords that describe without constraining. */
    private static final Set<String> ANNOTATIONS = Set.of("title", "description", "default", "examples", "$schema", "$id", "$comment",
            "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "contentMediaType", "contentEncoding", "$anchor", "example");
    /** Keywords a grammar cannot enforce: refused rather than silently ignored. */
    static final Map<String, String> REFUSED = Map.ofEntries(
            Map.entry("not", "'not'"), Map.entry("if", "'if'/'then'/'else'"), Map.entry("then", "'if'/'then'/'else'"),
            Map.entry("else", "'if'/'then'/'else'"), Map.entry("patternProperties", "'patternProperties'"),
            Map.entry("propertyNames", "'propertyNames'"), Map.entry("dependentRequired", "'dependentRequired'"),
            Map.entry("dependentSchemas", "'dependentSchemas'"), Map.entry("dependencies", "'dependencies'"),
            Map.entry("contains", "'contains'"), Map.entry("minProperties", "'minProperties'"), Map.entry("maxProperties", "'maxProperties'"),
            Map.entry("$dynamicRef", "'$dynamicRef'"), Map.entry("$recursiveRef", "'$recursiveRef'"),
            Map.entry("minContains", "'minContains'"), Map.entry("maxContains", "'maxContains'"));

    private final JsonNode rootSchema;
    /**
     * Between tokens: a run of whitespace up to the cap, or none (compact JSON, SGLang's
     * --constrained-json-disable-any-whitespace). No two such runs are ever adjacent (a container's items carry
     * the run that follows them, and the separator only the run after its comma), so the cap bounds every run of
     * whitespace in the output, the empty object's and array's included. Counting to the cap takes a state per
     * character: inlined, those states and their token tables were repeated at every place (an object of 100
     * properties compiled in 330 ms instead of 20), so all but a run's first character is a rule of its own
     * ({@code json_ws}), built once and shared by every grammar. The first character stays inline so that a token
     * ending before a run, or after its first character, is still decided by the caller's own tables; only a token
     * ending deeper in a run leaves its next bytes to the context (tails), which makes those masks slower.
     */
    private final Expr WS;
    /** Between two items of a container: the comma and the whitespace after it (the item before brings its own). */
    private final Expr SEPARATOR;
    private final Map<String, Expr> rules = new LinkedHashMap<>();
    private final Map<String, String> ruleOfRef = new HashMap<>();
    private final Map<String, String> ruleOfSchema = new HashMap<>();

    private JsonSchemaGrammar(JsonNode rootSchema, int maxWhitespace) {
        if (maxWhitespace < 0 && maxWhitespace != Expr.UNBOUNDED) throw new IllegalArgumentException("maxWhitespace " + maxWhitespace);
        this.rootSchema = rootSchema;
        if (maxWhitespace == 0) {
            this.WS = Expr.EMPTY;
        } else if (maxWhitespace == Expr.UNBOUNDED) {
            this.WS = star(WHITESPACE);  // a loop on the state it leaves: no state of its own
        } else if (maxWhitespace == 1) {
            this.WS = opt(WHITESPACE);
        } else {
            // the rest of a run: entered only once its first character is written
            rules.put("json_ws", new Expr.Repeat(WHITESPACE, 0, maxWhitespace - 1));
            this.WS = opt(seq(WHITESPACE, ref("json_ws")));
        }
        this.SEPARATOR = seq(lit(","), WS);
    }

    static Grammar fromSchema(String schemaText) {
        return fromSchema(schemaText, GrammarCompiler.MAX_WHITESPACE_RUN);
    }

    /**
     * {@code maxWhitespace}: the longest run of whitespace between tokens; 0: none (compact JSON),
     * {@link Expr#UNBOUNDED}: no limit.
     */
    static Grammar fromSchema(String schemaText, int maxWhitespace) {
        JsonNode schema;
        try {
            schema = JSON.readTree(schemaText);
        } catch (JsonProcessingException e) {
            throw new GrammarException("json_schema: not valid JSON: " + e.getOriginalMessage()
                    + (e.getLocation() != null ? " (line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() + ")" : ""));
        }
        if (schema == null || schema.isMissingNode()) throw new GrammarException("json_schema: the schema is empty");
        JsonSchemaGrammar g = new JsonSchemaGrammar(schema, maxWhitespace);
        g.rules.put("root", Expr.EMPTY);
        g.rules.put("root", g.value(schema, "#"));
        return new Grammar(g.rules, "root", "json_schema");
    }

    /** Any one JSON object (OpenAI's json_object response format). */
    static Grammar anyObject() {
        return anyObject(GrammarCompiler.MAX_WHITESPACE_RUN);
    }

    static Grammar anyObject(int maxWhitespace) {
        JsonSchemaGrammar g = new JsonSchemaGrammar(null, maxWhitespace);
        g.rules.put("root", Expr.EMPTY);
        g.rules.put("root", g.builtin("json_object"));
        return new Grammar(g.rules, "root", "json_object");
    }

    private static GrammarException error(String path, String problem) {
        return new GrammarException("json_schema at " + path + ": " + problem);
    }

    /** The text of one JSON value valid under {@code schema}. */
    private Expr value(JsonNode schema, String path) {
        if (schema.isBoolean()) {
            if (schema.booleanValue()) return builtin("json_value");
            throw error(path, "the schema 'false' admits no value");
        }
        if (!schema.isObject()) throw error(path, "a schema must be an object or a boolean, not " + schema.getNodeType().name().toLowerCase());
        for (Iterator<String> it = schema.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (REFUSED.containsKey(k)) throw error(path, REFUSED.get(k) + " is not supported in structured output");
        }
        unevaluated(schema, path);
        wholeNumbersOnly(schema, path);  // refuses any multipleOf but 1 before anything else looks at the schema
        if (schema.has("$ref")) {
            for (Iterator<String> it = schema.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (!k.equals("$ref") && !ANNOTATIONS.contains(k)) throw error(path, "'$ref' next to '" + k + "' is not supported (put the constraint in the referenced schema)");
            }
            return ref(refRule(text(schema.get("$ref"), path + "/$ref"), path));
        }
        if (schema.has("const") || schema.has("enum")) return listed(schema, path);
        for (String combinator : new String[] {"anyOf", "oneOf", "allOf"}) {
            if (!schema.has(combinator)) continue;
            JsonNode parts = schema.get(combinator);
            String at = path + "/" + combinator;
            if (!parts.isArray() || parts.isEmpty()) throw error(at, "'" + combinator + "' must be a non-empty array of schemas");
            for (Iterator<String> it = schema.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (!k.equals(combinator) && !ANNOTATIONS.contains(k) && !k.equals("type")) {
                    throw error(path, "'" + combinator + "' next to '" + k + "' is not supported (move '" + k + "' into each alternative)");
                }
            }
            if (combinator.equals("allOf")) {
                if (parts.size() > 1) throw error(at, "'allOf' with more than one schema is not supported");
                return value(parts.get(0), at + "/0");
            }
            // oneOf is taken as anyOf, as XGrammar does: a grammar cannot exclude text that two alternatives both
            // match, so overlapping branches may give output a validator's oneOf refuses (docs/grammar.md)
            List<Expr> options = new ArrayList<>();
            for (int i = 0; i < parts.size(); i++) options.add(value(withType(parts.get(i), schema.get("type")), at + "/" + i));
            return new Expr.Alt(options);
        }
        List<String> types = types(schema, path);
        List<Expr> options = new ArrayList<>();
        for (String t : types) options.add(typed(schema, t, path));
        return options.size() == 1 ? options.get(0) : new Expr.Alt(options);
    }

    /**
     * The values of {@code const} or {@code enum} that every other keyword of the schema admits, written verbatim:
     * the grammar enforces nothing else about them, so a sibling is either evaluated on each value or refused.
     */
    private Expr listed(JsonNode schema, String path) {
        String key = schema.has("const") ? "const" : "enum";
        JsonNode rest = ((com.fasterxml.jackson.databind.node.ObjectNode) schema.deepCopy()).without(key);
        JsonSchemaCheck check = new JsonSchemaCheck(rootSchema);
        if (key.equals("const")) {
            String why = check.refusal(schema.get("const"), rest, path);
            if (why != null) throw error(path + "/const", "the 'const' value does not satisfy the schema: " + why);
            return literal(schema.get("const"));
        }
        JsonNode values = schema.get("enum");
        if (!values.isArray() || values.isEmpty()) throw error(path + "/enum", "'enum' must be a non-empty array");
        List<Expr> options = new ArrayList<>();
        List<String> refused = new ArrayList<>();
        for (JsonNode v : values) {
            String why = check.refusal(v, rest, path);
            if (why == null) options.add(literal(v));
            else refused.add(why);
        }
        if (options.isEmpty()) {
            throw error(path + "/enum", "no value of 'enum' satisfies the schema: " + String.join("; ", refused.subList(0, Math.min(3, refused.size())))
                    + (refused.size() > 3 ? "; and " + (refused.size() - 3) + " more" : ""));
        }
        return options.size() == 1 ? options.get(0) : new Expr.Alt(options);
    }

    /**
     * Whether the schema has {@code multipleOf: 1} (numbers must be whole; anything else passes). Any other
     * multipleOf is refused wherever it appears, on any type and beside enum or const too, so that no schema has it
     * silently ignored: other multiples would need digit automata that count remainders, which are not built.
     */
    static boolean wholeNumbersOnly(JsonNode schema, String path) {
        if (!schema.has("multipleOf")) return false;
        if (decimal(schema, "multipleOf", path).compareTo(BigDecimal.ONE) != 0) {
            throw error(path + "/multipleOf", "'multipleOf' is not supported (except 1, for integers)");
        }
        return true;
    }

    /** The schema's types: its 'type', or what its keywords imply, or every type. */
    private List<String> types(JsonNode schema, String path) {
        if (schema.has("type")) return typeNames(schema, path);
        if (has(schema, "properties", "required", "additionalProperties")) return List.of("object");
        if (has(schema, "items", "prefixItems", "minItems", "maxItems")) return List.of("array");
        if (has(schema, "pattern", "format", "minLength", "maxLength")) return List.of("string");
        if (has(schema, "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")) return List.of("number");
        return List.of("any");
    }

    /** The names in the schema's 'type', which it must have. */
    static List<String> typeNames(JsonNode schema, String path) {
        JsonNode t = schema.get("type");
        Set<String> out = new LinkedHashSet<>();
        if (t.isTextual()) out.add(t.asText());
        else if (t.isArray() && !t.isEmpty()) for (JsonNode x : t) out.add(text(x, path + "/type"));
        else throw error(path + "/type", "'type' must be a string or a non-empty array of strings");
        return List.copyOf(out);
    }

    /** Whether a JSON value is of one of the given schema types. */
    static boolean ofType(JsonNode v, List<String> types) {
        for (String t : types) {
            boolean ok = switch (t) {
                case "null" -> v.isNull();
                case "boolean" -> v.isBoolean();
                case "integer" -> v.isIntegralNumber() || (v.isNumber() && v.decimalValue().stripTrailingZeros().scale() <= 0);
                case "number" -> v.isNumber();
                case "string" -> v.isTextual();
                case "object" -> v.isObject();
                case "array" -> v.isArray();
                default -> false;
            };
            if (ok) return true;
        }
        return false;
    }

    /** An alternative of anyOf / oneOf with the 'type' declared beside the combinator, when it declares none itself. */
    private static JsonNode withType(JsonNode part, JsonNode type) {
        if (type == null) return part;
        if (part.isBoolean() && part.booleanValue()) return JSON.createObjectNode().set("type", type);
        if (!part.isObject() || part.has("type") || part.has("$ref")) return part;
        return ((com.fasterxml.jackson.databind.node.ObjectNode) part.deepCopy()).set("type", type);
    }

    static boolean has(JsonNode schema, String... keys) {
        for (String k : keys) if (schema.has(k)) return true;
        return false;
    }

    private Expr typed(JsonNode s, String type, String path) {
        return switch (type) {
            case "null" -> lit("null");
            case "boolean" -> alt(lit("true"), lit("false"));
            case "any" -> builtin("json_value");
            case "integer", "number" -> number(s, type.equals("integer"), path);
            case "string" -> string(s, path);
            case "object" -> shared("object", s, path, () -> object(s, path));
            case "array" -> shared("array", s, path, () -> array(s, path));
            default -> throw error(path + "/type", "unknown type '" + type + "'");
        };
    }

    /** A rule for this sub-schema, shared by every place the same sub-schema appears. */
    private Expr shared(String kind, JsonNode schema, String path, Supplier<Expr> body) {
        String key = kind + " " + schema;
        String name = ruleOfSchema.get(key);
        if (name == null) {
            Expr e = body.get();
            name = uniqueName(path);
            rules.put(name, e);
            ruleOfSchema.put(key, name);
        }
        return ref(name);
    }

    private String uniqueName(String base) {
        String name = base;
        for (int i = 2; rules.containsKey(name); i++) name = base + "~" + i;
        return name;
    }

    /** The rule of a {@code $ref} target; made before its body so that recursion refers to it. */
    private String refRule(String target, String path) {
        String name = ruleOfRef.get(target);
        if (name != null) return name;
        if (!target.startsWith("#")) throw error(path + "/$ref", "only local references ('#/...') are supported, not '" + target + "'");
        JsonNode node = resolve(rootSchema, target, path);
        name = uniqueName(target);
        ruleOfRef.put(target, name);
        rules.put(name, Expr.EMPTY);
        rules.put(name, value(node, target));
        return name;
    }

    static JsonNode resolve(JsonNode rootSchema, String target, String path) {
        JsonNode node = rootSchema;
        String pointer = URLDecoder.decode(target.substring(1), StandardCharsets.UTF_8);
        if (pointer.isEmpty()) return node;
        if (!pointer.startsWith("/")) throw error(path + "/$ref", "'" + target + "' is not a JSON pointer ('#/$defs/name')");
        for (String part : pointer.substring(1).split("/", -1)) {
            String key = part.replace("~1", "/").replace("~0", "~");
            node = node.isArray() && key.matches("\\d+") ? node.path(Integer.parseInt(key)) : node.path(key);
            if (node.isMissingNode()) throw error(path + "/$ref", "'" + target + "' points to nothing in the schema");
        }
        return node;
    }

    /**
     * unevaluatedProperties: false is enforced (as additionalProperties: false of the object's own properties, the
     * only ones a schema Kiln accepts can evaluate) and true constrains nothing; a schema there, and any
     * unevaluatedItems but true, would be ignored by the grammar, so they are refused.
     */
    static void unevaluated(JsonNode s, String path) {
        JsonNode items = s.get("unevaluatedItems");
        if (items != null && !(items.isBoolean() && items.booleanValue())) {
            throw error(path + "/unevaluatedItems", "'unevaluatedItems' is not supported in structured output (only true)");
        }
        JsonNode props = s.get("unevaluatedProperties");
        if (props != null && !props.isBoolean()) {
            throw error(path + "/unevaluatedProperties", "'unevaluatedProperties' with a schema is not supported in structured output (only false or true)");
        }
    }

    private Expr object(JsonNode s, String path) {
        JsonNode props = s.get("properties");
        if (props != null && !props.isObject()) throw error(path + "/properties", "'properties' must be an object");
        Set<String> required = new LinkedHashSet<>();
        JsonNode req = s.get("required");
        if (req != null) {
            if (!req.isArray()) throw error(path + "/required", "'required' must be an array of property names");
            for (JsonNode r : req) required.add(text(r, path + "/required"));
        }
        JsonNode additional = s.get("additionalProperties");
        if (additional == null && s.path("unevaluatedProperties").isBoolean() && !s.get("unevaluatedProperties").booleanValue()) {
            additional = JSON.getNodeFactory().booleanNode(false);
        }
        // without properties, an object may hold anything; with them, only what they declare (strict mode)
        boolean extras = additional == null ? props == null || props.isEmpty() : !(additional.isBoolean() && !additional.booleanValue());
        JsonNode extraSchema = additional == null || additional.isBoolean() ? null : additional;
        List<Expr> members = new ArrayList<>();
        List<Boolean> isRequired = new ArrayList<>();
        Set<String> declared = new LinkedHashSet<>();
        if (props != null) {
            for (Iterator<Map.Entry<String, JsonNode>> it = props.fields(); it.hasNext(); ) {
                var p = it.next();
                declared.add(p.getKey());
                members.add(seq(member(p.getKey(), value(p.getValue(), path + "/properties/" + escapePointer(p.getKey()))), WS));
                isRequired.add(required.contains(p.getKey()));
            }
        }
        for (String r : required) {
            if (declared.contains(r)) continue;
            if (!extras) throw error(path + "/required", "required property '" + r + "' is not among the properties");
            members.add(seq(member(r, extraSchema == null ? builtin("json_value") : value(extraSchema, path + "/additionalProperties")), WS));
            isRequired.add(true);
        }
        if (extras) {
            // any further keys come after the declared ones, as many as the model writes
            members.add(seq(builtin("json_string"), WS, lit(":"), WS,
                    extraSchema == null ? builtin("json_value") : value(extraSchema, path + "/additionalProperties"), WS));
            isRequired.add(false);
        }
        return seq(lit("{"), WS, new Expr.Members(members, isRequired, SEPARATOR, extras), lit("}"));
    }

    private Expr member(String key, Expr value) {
        return seq(lit(quote(key)), WS, lit(":"), WS, value);
    }

    private Expr array(JsonNode s, String path) {
        if (s.path("uniqueItems").asBoolean(false)) throw error(path + "/uniqueItems", "'uniqueItems: true' is not supported in structured output");
        List<Expr> tuple = new ArrayList<>();
        JsonNode prefix = s.has("prefixItems") ? s.get("prefixItems") : s.path("items").isArray() ? s.get("items") : null;
        String prefixPath = path + (s.has("prefixItems") ? "/prefixItems" : "/items");
        if (prefix != null) {
            if (!prefix.isArray()) throw error(prefixPath, "'prefixItems' must be an array of schemas");
            for (int i = 0; i < prefix.size(); i++) tuple.add(value(prefix.get(i), prefixPath + "/" + i));
        }
        JsonNode rest = prefix != null && !s.has("prefixItems") ? s.get("additionalItems") : s.get("items");
        String restPath = path + (prefix != null && !s.has("prefixItems") ? "/additionalItems" : "/items");
        boolean restAllowed = rest == null || !(rest.isBoolean() && !rest.booleanValue());
        Expr item = !restAllowed ? null : rest == null ? builtin("json_value") : value(rest, restPath);
        int min = count(s, "minItems", 0, path);
        int max = count(s, "maxItems", Expr.UNBOUNDED, path);
        if (!restAllowed) max = max == Expr.UNBOUNDED ? tuple.size() : Math.min(max, tuple.size());
        if (max != Expr.UNBOUNDED && min > max) {
            throw error(path, "minItems " + min + " is above the most items the array can hold (" + max + ")");
        }
        if (max == 0) return seq(lit("["), WS, lit("]"));
        Expr first = tuple.isEmpty() ? item : tuple.get(0);
        Expr items = seq(first, WS, moreItems(tuple, item, 1, min, max));
        return seq(lit("["), WS, min == 0 ? opt(items) : items, lit("]"));
    }

    /** Items from index i on, i items written already. */
    private Expr moreItems(List<Expr> tuple, Expr item, int i, int min, int max) {
        if (max != Expr.UNBOUNDED && i >= max) return Expr.EMPTY;
        if (i >= tuple.size()) {
            if (item == null) return Expr.EMPTY;
            int mandatory = Math.max(0, min - i);
            return new Expr.Repeat(seq(SEPARATOR, item, WS), mandatory, max == Expr.UNBOUNDED ? Expr.UNBOUNDED : max - i);
        }
        Expr step = seq(SEPARATOR, tuple.get(i), WS, moreItems(tuple, item, i + 1, min, max));
        return i < min ? step : opt(step);
    }

    static int count(JsonNode s, String key, int absent, String path) {
        JsonNode n = s.get(key);
        if (n == null) return absent;
        if (!n.canConvertToInt() || !n.isIntegralNumber() || n.intValue() < 0) throw error(path + "/" + key, "'" + key + "' must be a non-negative integer");
        return n.intValue();
    }

    private Expr string(JsonNode s, String path) {
        JsonNode pattern = s.get("pattern"), format = s.get("format");
        Expr formatExpr = format == null ? null : JsonFormats.of(text(format, path + "/format"));
        int min = count(s, "minLength", 0, path);
        int max = count(s, "maxLength", Expr.UNBOUNDED, path);
        if (max != Expr.UNBOUNDED && min > max) throw error(path, "minLength " + min + " is above maxLength " + max);
        if (pattern == null && formatExpr == null && min == 0 && max == Expr.UNBOUNDED) return builtin("json_string");
        return shared("string", s, path, () -> {
            Expr content = null;
            if (pattern != null) content = RegexParser.parse(text(pattern, path + "/pattern"), "json_schema at " + path + "/pattern: regex");
            if (formatExpr != null) content = content == null ? formatExpr : new Expr.Intersect(content, formatExpr);
            if (min > 0 || max != Expr.UNBOUNDED) {
                Expr length = new Expr.Repeat(Expr.Chars.of(0, Expr.Chars.MAX), min, max);
                content = content == null ? length : new Expr.Intersect(content, length);
            }
            return seq(lit("\""), escaped(content), lit("\""));
        });
    }

    private Expr number(JsonNode s, boolean integer, String path) {
        BigDecimal lo = null, hi = null;
        boolean loStrict = false, hiStrict = false;
        if (s.has("minimum")) lo = decimal(s, "minimum", path);
        if (s.has("maximum")) hi = decimal(s, "maximum", path);
        // draft 4 writes exclusive bounds as booleans beside minimum / maximum
        if (s.path("exclusiveMinimum").isBoolean()) loStrict = s.get("exclusiveMinimum").booleanValue();
        else if (s.has("exclusiveMinimum")) {
            BigDecimal x = decimal(s, "exclusiveMinimum", path);
            if (lo == null || x.compareTo(lo) >= 0) {
                lo = x;
                loStrict = true;
            }
        }
        if (s.path("exclusiveMaximum").isBoolean()) hiStrict = s.get("exclusiveMaximum").booleanValue();
        else if (s.has("exclusiveMaximum")) {
            BigDecimal x = decimal(s, "exclusiveMaximum", path);
            if (hi == null || x.compareTo(hi) <= 0) {
                hi = x;
                hiStrict = true;
            }
        }
        if (s.has("multipleOf")) integer = true;  // value() refused every multipleOf but 1
        if (lo == null && hi == null) return builtin(integer ? "json_integer" : "json_number");
        final BigDecimal l = lo, h = hi;
        final boolean ls = loStrict, hs = hiStrict, whole = integer;
        if (integer) {
            var li = l == null ? null : NumberRanges.ceil(l, ls);
            var hiInt = h == null ? null : NumberRanges.floor(h, hs);
            if (li != null && hiInt != null && li.compareTo(hiInt) > 0) throw error(path, "no integer lies within the bounds");
            return shared("integer", s, path, () -> NumberRanges.integers(li, hiInt));
        }
        if (l != null && h != null && (l.compareTo(h) > 0 || (l.compareTo(h) == 0 && (ls || hs)))) {
            throw error(path, "no number lies within the bounds");
        }
        return shared(whole ? "integer" : "number", s, path, () -> NumberRanges.decimals(l, ls, h, hs));
    }

    private static BigDecimal decimal(JsonNode s, String key, String path) {
        JsonNode n = s.get(key);
        if (!n.isNumber()) throw error(path + "/" + key, "'" + key + "' must be a number");
        return n.decimalValue();
    }

    /** The builtin rules of any JSON value, made on first use. */
    private Expr builtin(String name) {
        if (!rules.containsKey(name)) {
            rules.put(name, Expr.EMPTY);
            rules.put(name, switch (name) {
                case "json_string" -> seq(lit("\""), star(alt(PLAIN, seq(lit("\\"), alt(Expr.Chars.anyOf("\"\\/bfnrt"),
                        // backslash-u escapes of code units outside the surrogates: lone surrogates are not text
                        seq(lit("u"), alt(seq(new Expr.Chars(new int[] {'0', '9', 'A', 'C', 'E', 'F', 'a', 'c', 'e', 'f'}), HEX, HEX, HEX),
                                seq(Expr.Chars.anyOf("Dd"), Expr.Chars.of('0', '7'), HEX, HEX))))))), lit("\""));
                case "json_number" -> seq(opt(lit("-")), NumberRanges.NAT, opt(seq(lit("."), Expr.plus(Expr.Chars.of('0', '9')))),
                        // an exponent of at most 3 digits: every finite double's fits, and a longer one makes a
                        // number no JSON parser reads as one (a model can run on in digits where nothing stops it)
                        opt(seq(Expr.Chars.anyOf("eE"), opt(Expr.Chars.anyOf("+-")), Expr.Chars.of('0', '9'),
                                opt(Expr.Chars.of('0', '9')), opt(Expr.Chars.of('0', '9')))));
                case "json_integer" -> seq(opt(lit("-")), NumberRanges.NAT);
                case "json_object" -> {
                    Expr member = seq(builtin("json_string"), WS, lit(":"), WS, builtin("json_value"), WS);
                    yield seq(lit("{"), WS, opt(seq(member, star(seq(SEPARATOR, member)))), lit("}"));
                }
                case "json_array" -> {
                    Expr item = seq(builtin("json_value"), WS);
                    yield seq(lit("["), WS, opt(seq(item, star(seq(SEPARATOR, item)))), lit("]"));
                }
                case "json_value" -> alt(builtin("json_object"), builtin("json_array"), builtin("json_string"), builtin("json_number"),
                        lit("true"), lit("false"), lit("null"));
                default -> throw new IllegalArgumentException(name);
            });
        }
        return ref(name);
    }

    /** A JSON value written as JSON, compact, exactly as it must appear. */
    private static Expr literal(JsonNode v) {
        try {
            return lit(JSON.writeValueAsString(v));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String quote(String s) {
        try {
            return JSON.writeValueAsString(TextNode.valueOf(s));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A language of string values as the language of their JSON texts: characters that JSON must escape appear
     * as their escapes (one spelling each: {@code \"}, {@code \\}, {@code \n}..., backslash-u 001f).
     */
    static Expr escaped(Expr e) {
        return switch (e) {
            case Expr.Literal l -> {
                String q = quote(l.text());
                yield lit(q.substring(1, q.length() - 1));
            }
            case Expr.Chars c -> {
                List<Expr> options = new ArrayList<>();
                Expr.Chars plain = c.minus(new Expr.Chars(new int[] {0, 0x1F, '"', '"', '\\', '\\'}));
                if (!plain.isEmpty()) options.add(plain);
                for (int cp : new int[] {'"', '\\', '\b', '\t', '\n', '\f', '\r'}) if (c.contains(cp)) options.add(escaped(lit(Character.toString(cp))));
                // the other control characters as backslash-u 00XX (upper-case hex, as Jackson writes them), by class
                IntList low = new IntList(), high = new IntList();
                for (int cp = 0; cp < 0x20; cp++) {
                    if (!c.contains(cp) || "\b\t\n\f\r".indexOf(cp) >= 0) continue;
                    int digit = Character.toUpperCase(Character.forDigit(cp & 0xF, 16));
                    (cp < 0x10 ? low : high).add(digit, digit);
                }
                if (low.size() > 0) options.add(seq(lit("\\u000"), new Expr.Chars(low.toArray())));
                if (high.size() > 0) options.add(seq(lit("\\u001"), new Expr.Chars(high.toArray())));
                yield options.size() == 1 ? options.get(0) : new Expr.Alt(options);
            }
            case Expr.Seq s -> new Expr.Seq(s.items().stream().map(JsonSchemaGrammar::escaped).toList());
            case Expr.Alt a -> new Expr.Alt(a.options().stream().map(JsonSchemaGrammar::escaped).toList());
            case Expr.Repeat r -> new Expr.Repeat(escaped(r.body()), r.min(), r.max());
            case Expr.Intersect i -> new Expr.Intersect(escaped(i.a()), escaped(i.b()));
            case Expr.Members m -> new Expr.Members(m.items().stream().map(JsonSchemaGrammar::escaped).toList(), m.required(),
                    escaped(m.separator()), m.lastRepeats());
            case Expr.Ref r -> throw new IllegalStateException("a string pattern refers to a rule");
        };
    }

    static String text(JsonNode n, String path) {
        if (n == null || !n.isTextual()) throw error(path, "expected a string");
        return n.asText();
    }

    static String escapePointer(String key) {
        return key.replace("~", "~0").replace("/", "~1");
    }
}
