package kiln.grammar;

import com.fasterxml.jackson.databind.JsonNode;

import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Whether a concrete JSON value satisfies a schema: the values listed by {@code enum} and {@code const} are kept
 * only where the keywords beside them admit them, since the grammar writes those values verbatim and nothing else
 * would enforce the siblings. A keyword that cannot be evaluated here is refused by name rather than passed.
 * {@code pattern} and {@code format} are Kiln's own (the whole string matches, the regex dialect of
 * {@link RegexParser}), so a listed string is kept exactly when a string schema with the same keywords could write it.
 */
final class JsonSchemaCheck {
    /** Deeper than any schema needs: only a $ref cycle that never descends into the value gets here. */
    private static final int MAX_DEPTH = 200;

    private final JsonNode root;
    private final Map<String, Dfa> matchers = new HashMap<>();

    JsonSchemaCheck(JsonNode root) {
        this.root = root;
    }

    /**
     * Null if {@code value} satisfies {@code schema} (at {@code path} in the document's schema); otherwise why not,
     * naming the value and the keyword. Throws a GrammarException for a keyword it cannot evaluate.
     */
    String refusal(JsonNode value, JsonNode schema, String path) {
        return check(value, "", schema, path, 0);
    }

    private String check(JsonNode v, String at, JsonNode s, String path, int depth) {
        if (depth > MAX_DEPTH) throw error(path, "'$ref' refers back to itself without descending into the value");
        if (s.isBoolean()) return s.booleanValue() ? null : fail(v, at, "is refused by the schema 'false'");
        if (!s.isObject()) throw error(path, "a schema must be an object or a boolean, not " + s.getNodeType().name().toLowerCase());
        JsonSchemaGrammar.unevaluated(s, path);
        for (Iterator<String> it = s.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (JsonSchemaGrammar.REFUSED.containsKey(k)) throw error(path, JsonSchemaGrammar.REFUSED.get(k) + " is not supported in structured output");
            if (k.equals("unevaluatedProperties") && JsonSchemaGrammar.has(s, "allOf", "anyOf", "oneOf", "$ref")) {
                // what counts as evaluated would then depend on the subschemas' annotations
                throw error(path + "/" + k, "'unevaluatedProperties' beside 'enum' or 'const' and a combinator or '$ref' is not supported");
            }
        }
        boolean whole = JsonSchemaGrammar.wholeNumbersOnly(s, path);
        String why;
        if (s.has("type")) {
            List<String> types = JsonSchemaGrammar.typeNames(s, path);
            for (String t : types) if (!KNOWN_TYPES.contains(t)) throw error(path + "/type", "unknown type '" + t + "'");
            if (!JsonSchemaGrammar.ofType(v, types)) return fail(v, at, "is not of the declared type " + types);
        }
        if (whole && v.isNumber() && !JsonSchemaGrammar.ofType(v, List.of("integer"))) return fail(v, at, "is not a multiple of 'multipleOf' 1");
        if (s.has("const") && !same(v, s.get("const"))) return fail(v, at, "is not the 'const' value");
        if (s.has("enum")) {
            JsonNode e = s.get("enum");
            if (!e.isArray() || e.isEmpty()) throw error(path + "/enum", "'enum' must be a non-empty array");
            boolean found = false;
            for (JsonNode x : e) found |= same(v, x);
            if (!found) return fail(v, at, "is not among the 'enum' values");
        }
        if (v.isNumber() && (why = number(v, at, s, path)) != null) return why;
        if (v.isTextual() && (why = string(v, at, s, path)) != null) return why;
        if (v.isArray() && (why = array(v, at, s, path, depth)) != null) return why;
        if (v.isObject() && (why = object(v, at, s, path, depth)) != null) return why;
        if (s.has("$ref")) {
            String target = s.get("$ref").isTextual() ? s.get("$ref").asText() : null;
            if (target == null) throw error(path + "/$ref", "expected a string");
            if (!target.startsWith("#")) throw error(path + "/$ref", "only local references ('#/...') are supported, not '" + target + "'");
            if ((why = check(v, at, JsonSchemaGrammar.resolve(root, target, path), target, depth + 1)) != null) return why;
        }
        return combinators(v, at, s, path, depth);
    }

    private static final Set<String> KNOWN_TYPES = Set.of("null", "boolean", "integer", "number", "string", "object", "array");

    private String combinators(JsonNode v, String at, JsonNode s, String path, int depth) {
        for (String c : new String[] {"allOf", "anyOf", "oneOf"}) {
            if (!s.has(c)) continue;
            JsonNode parts = s.get(c);
            if (!parts.isArray() || parts.isEmpty()) throw error(path + "/" + c, "'" + c + "' must be a non-empty array of schemas");
            int matched = 0;
            String first = null;
            for (int i = 0; i < parts.size(); i++) {
                String why = check(v, at, parts.get(i), path + "/" + c + "/" + i, depth + 1);
                if (why == null) matched++;
                else if (first == null) first = why;
            }
            // for a concrete value oneOf can be decided exactly, unlike in the grammar
            if (c.equals("allOf") && matched < parts.size()) return first;
            if (c.equals("anyOf") && matched == 0) return fail(v, at, "matches no branch of 'anyOf' (" + first + ")");
            if (c.equals("oneOf") && matched != 1) return fail(v, at, "matches " + matched + " branches of 'oneOf', not one");
        }
        return null;
    }

    private static String number(JsonNode v, String at, JsonNode s, String path) {
        BigDecimal x = v.decimalValue();
        boolean draft4Min = s.path("exclusiveMinimum").isBoolean() && s.get("exclusiveMinimum").booleanValue();
        boolean draft4Max = s.path("exclusiveMaximum").isBoolean() && s.get("exclusiveMaximum").booleanValue();
        if (s.has("minimum")) {
            int c = x.compareTo(bound(s, "minimum", path));
            if (c < 0 || (c == 0 && draft4Min)) return fail(v, at, "is below 'minimum' " + s.get("minimum") + (draft4Min ? " (exclusive)" : ""));
        }
        if (s.has("maximum")) {
            int c = x.compareTo(bound(s, "maximum", path));
            if (c > 0 || (c == 0 && draft4Max)) return fail(v, at, "is above 'maximum' " + s.get("maximum") + (draft4Max ? " (exclusive)" : ""));
        }
        if (s.has("exclusiveMinimum") && !s.get("exclusiveMinimum").isBoolean() && x.compareTo(bound(s, "exclusiveMinimum", path)) <= 0) {
            return fail(v, at, "is not above 'exclusiveMinimum' " + s.get("exclusiveMinimum"));
        }
        if (s.has("exclusiveMaximum") && !s.get("exclusiveMaximum").isBoolean() && x.compareTo(bound(s, "exclusiveMaximum", path)) >= 0) {
            return fail(v, at, "is not below 'exclusiveMaximum' " + s.get("exclusiveMaximum"));
        }
        return null;
    }

    private static BigDecimal bound(JsonNode s, String key, String path) {
        JsonNode n = s.get(key);
        if (!n.isNumber()) throw error(path + "/" + key, "'" + key + "' must be a number");
        return n.decimalValue();
    }

    private String string(JsonNode v, String at, JsonNode s, String path) {
        String text = v.asText();
        int length = text.codePointCount(0, text.length());
        int min = JsonSchemaGrammar.count(s, "minLength", 0, path);
        int max = JsonSchemaGrammar.count(s, "maxLength", Integer.MAX_VALUE, path);
        if (length < min) return fail(v, at, "is shorter than 'minLength' " + min);
        if (length > max) return fail(v, at, "is longer than 'maxLength' " + max);
        if (s.has("pattern")) {
            String pattern = JsonSchemaGrammar.text(s.get("pattern"), path + "/pattern");
            Dfa d = matcher("pattern " + pattern, () -> RegexParser.parse(pattern, "json_schema at " + path + "/pattern: regex"), path);
            if (!accepts(d, text)) return fail(v, at, "does not match 'pattern' " + pattern + " (the whole string, Kiln's regex dialect)");
        }
        if (s.has("format")) {
            String format = JsonSchemaGrammar.text(s.get("format"), path + "/format");
            // formats Kiln does not know are annotations here as in string schemas (JSON Schema 2020-12's default)
            if (JsonFormats.of(format) != null && !accepts(matcher("format " + format, () -> JsonFormats.of(format), path), text)) {
                return fail(v, at, "is not of 'format' " + format);
            }
        }
        return null;
    }

    private Dfa matcher(String key, java.util.function.Supplier<Expr> expr, String path) {
        Dfa d = matchers.get(key);
        if (d == null) {
            d = Dfa.of(expr.get(), rule -> { throw new IllegalStateException("a string pattern refers to a rule"); }, "json_schema at " + path);
            matchers.put(key, d);
        }
        return d;
    }

    /** The automaton reads UTF-8; a lone surrogate has no UTF-8 and no character class holds it. */
    private static boolean accepts(Dfa d, String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isSurrogate(c) && !(Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1)))) return false;
            if (Character.isHighSurrogate(c)) i++;
        }
        int state = 0;
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            int[] r = d.ranges[state];
            int next = -1;
            for (int i = 0; i < r.length && next < 0; i += 3) if ((b & 0xFF) >= r[i] && (b & 0xFF) <= r[i + 1]) next = r[i + 2];
            if (next < 0) return false;
            state = next;
        }
        return d.accepting[state];
    }

    private String array(JsonNode v, String at, JsonNode s, String path, int depth) {
        int min = JsonSchemaGrammar.count(s, "minItems", 0, path);
        int max = JsonSchemaGrammar.count(s, "maxItems", Integer.MAX_VALUE, path);
        if (v.size() < min) return fail(v, at, "has fewer items than 'minItems' " + min);
        if (v.size() > max) return fail(v, at, "has more items than 'maxItems' " + max);
        if (s.path("uniqueItems").asBoolean(false)) {
            for (int i = 0; i < v.size(); i++) for (int j = 0; j < i; j++) if (same(v.get(i), v.get(j))) return fail(v, at, "repeats an item ('uniqueItems')");
        }
        boolean modern = s.has("prefixItems");
        JsonNode prefix = modern ? s.get("prefixItems") : s.path("items").isArray() ? s.get("items") : null;
        String prefixPath = path + (modern ? "/prefixItems" : "/items");
        if (prefix != null && !prefix.isArray()) throw error(prefixPath, "'prefixItems' must be an array of schemas");
        int n = prefix == null ? 0 : prefix.size();
        JsonNode rest = prefix != null && !modern ? s.get("additionalItems") : s.get("items");
        String restPath = path + (prefix != null && !modern ? "/additionalItems" : "/items");
        for (int i = 0; i < v.size(); i++) {
            JsonNode item = i < n ? prefix.get(i) : rest;
            if (item == null) continue;
            String why = check(v.get(i), at + "/" + i, item, i < n ? prefixPath + "/" + i : restPath, depth + 1);
            if (why != null) return why;
        }
        return null;
    }

    private String object(JsonNode v, String at, JsonNode s, String path, int depth) {
        JsonNode props = s.get("properties");
        if (props != null && !props.isObject()) throw error(path + "/properties", "'properties' must be an object");
        JsonNode req = s.get("required");
        if (req != null) {
            if (!req.isArray()) throw error(path + "/required", "'required' must be an array of property names");
            for (JsonNode r : req) {
                String name = JsonSchemaGrammar.text(r, path + "/required");
                if (!v.has(name)) return fail(v, at, "lacks the 'required' property '" + name + "'");
            }
        }
        // unevaluatedProperties without combinators or $ref (refused above) is additionalProperties
        String extraKey = s.has("additionalProperties") ? "additionalProperties" : s.has("unevaluatedProperties") ? "unevaluatedProperties" : null;
        for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
            var f = it.next();
            String key = f.getKey(), inner = at + "/" + JsonSchemaGrammar.escapePointer(key);
            JsonNode sub = props == null ? null : props.get(key);
            String why = null;
            if (sub != null) why = check(f.getValue(), inner, sub, path + "/properties/" + JsonSchemaGrammar.escapePointer(key), depth + 1);
            else if (extraKey != null) why = check(f.getValue(), inner, s.get(extraKey), path + "/" + extraKey, depth + 1);
            if (why != null) return why;
        }
        return null;
    }

    /** JSON equality: numbers by value (1 and 1.0 are equal), objects regardless of key order. */
    static boolean same(JsonNode a, JsonNode b) {
        if (a.isNumber() && b.isNumber()) return a.decimalValue().compareTo(b.decimalValue()) == 0;
        if (a.isArray() && b.isArray()) {
            if (a.size() != b.size()) return false;
            for (int i = 0; i < a.size(); i++) if (!same(a.get(i), b.get(i))) return false;
            return true;
        }
        if (a.isObject() && b.isObject()) {
            if (a.size() != b.size()) return false;
            for (Iterator<Map.Entry<String, JsonNode>> it = a.fields(); it.hasNext(); ) {
                var f = it.next();
                if (!b.has(f.getKey()) || !same(f.getValue(), b.get(f.getKey()))) return false;
            }
            return true;
        }
        return a.equals(b);
    }

    private static String fail(JsonNode v, String at, String problem) {
        String text = v.toString();
        if (text.length() > 40) text = text.substring(0, 37) + "...";
        return text + (at.isEmpty() ? "" : " at " + at) + " " + problem;
    }

    private static GrammarException error(String path, String problem) {
        return new GrammarException("json_schema at " + path + ": " + problem);
    }
}
