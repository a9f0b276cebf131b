package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;

/**
 * Typed reads of one JSON object of a request. A field that is absent or null reads as null (the caller's default
 * applies); a field of the wrong type is a 400 naming it by its full path ({@code sampling_params.top_p}).
 */
record Fields(ObjectNode node, String prefix) {
    static Fields of(ObjectNode node) {
        return new Fields(node, "");
    }

    String path(String field) {
        return prefix + field;
    }

    boolean has(String field) {
        JsonNode v = node.get(field);
        return v != null && !v.isNull();
    }

    JsonNode raw(String field) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() ? null : v;
    }

    Fields object(String field) {
        JsonNode v = raw(field);
        if (v == null) return null;
        if (!v.isObject()) throw wrongType(field, "an object", v);
        return new Fields((ObjectNode) v, path(field) + ".");
    }

    String string(String field) {
        JsonNode v = raw(field);
        if (v == null) return null;
        if (!v.isTextual()) throw wrongType(field, "a string", v);
        return v.asText();
    }

    Boolean bool(String field) {
        JsonNode v = raw(field);
        if (v == null) return null;
        if (!v.isBoolean()) throw wrongType(field, "true or false", v);
        return v.asBoolean();
    }

    Integer integer(String field) {
        JsonNode v = raw(field);
        if (v == null) return null;
        return toInt(v, path(field));
    }

    Double number(String field) {
        JsonNode v = raw(field);
        if (v == null) return null;
        if (!v.isNumber()) throw wrongType(field, "a number", v);
        double d = v.asDouble();
        if (!Double.isFinite(d)) throw ApiException.badRequest(path(field) + " must be a finite number", path(field));
        return d;
    }

    Long longValue(String field) {
        JsonNode v = raw(field);
        if (v == null) return null;
        if (!v.isIntegralNumber() || !v.canConvertToLong()) throw wrongType(field, "an integer", v);
        return v.asLong();
    }

    /** A string or a list of strings (OpenAI's {@code stop}). */
    List<String> strings(String field) {
        JsonNode v = raw(field);
        if (v == null) return null;
        if (v.isTextual()) return List.of(v.asText());
        if (!v.isArray()) throw wrongType(field, "a string or a list of strings", v);
        List<String> out = new ArrayList<>();
        for (JsonNode e : v) {
            if (!e.isTextual()) throw wrongType(field, "a string or a list of strings", v);
            out.add(e.asText());
        }
        return out;
    }

    /** An integer or a list of integers. */
    List<Integer> integers(String field) {
        JsonNode v = raw(field);
        if (v == null) return null;
        if (v.isNumber()) return List.of(toInt(v, path(field)));
        if (!v.isArray()) throw wrongType(field, "a list of integers", v);
        List<Integer> out = new ArrayList<>();
        for (JsonNode e : v) out.add(toInt(e, path(field)));
        return out;
    }

    ApiException wrongType(String field, String expected, JsonNode got) {
        return ApiException.badRequest(path(field) + " must be " + expected + ", got " + describe(got), path(field));
    }

    static int toInt(JsonNode v, String path) {
        boolean whole = v.isIntegralNumber() || (v.isNumber() && v.asDouble() == Math.rint(v.asDouble()));
        if (!whole) throw ApiException.badRequest(path + " must be an integer, got " + describe(v), path);
        double d = v.asDouble();
        if (d < Integer.MIN_VALUE || d > Integer.MAX_VALUE || (v.isIntegralNumber() && !v.canConvertToInt())) {
            throw ApiException.badRequest(path + " is out of range: " + v, path);
        }
        return v.isIntegralNumber() ? v.asInt() : (int) d;
    }

    static String describe(JsonNode v) {
        String type = v.isTextual() ? "string" : v.isBoolean() ? "boolean" : v.isNumber() ? "number"
                : v.isArray() ? "list" : v.isObject() ? "object" : "null";
        String text = v.toString();
        return type + " " + (text.length() > 40 ? text.substring(0, 40) + "..." : text);
    }
}
