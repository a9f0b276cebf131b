package kiln.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;

/** The server's one JSON mapper, request body parsing, and JSON-safe logprob values. */
final class Json {
    private Json() {}

    static final ObjectMapper MAPPER = new ObjectMapper();

    static {
        // deeply nested bodies are an attack, not a request
        MAPPER.getFactory().setStreamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(64).build());
    }

    static ObjectNode object() {
        return JsonNodeFactory.instance.objectNode();
    }

    static ArrayNode array() {
        return JsonNodeFactory.instance.arrayNode();
    }

    /** The request body as a JSON object; 400 for an empty body, malformed JSON or any other JSON value. */
    static ObjectNode parseObject(byte[] body) {
        if (body.length == 0) throw ApiException.badRequest("the request body is empty; send a JSON object", null);
        JsonNode node;
        try {
            node = MAPPER.readTree(body);
        } catch (JsonProcessingException e) {
            var at = e.getLocation();
            throw ApiException.badRequest("malformed JSON in the request body: " + e.getOriginalMessage()
                    + (at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")"), null);
        } catch (IOException e) {
            throw ApiException.badRequest("unreadable request body: " + e.getMessage(), null);
        }
        if (node == null || node.isMissingNode()) throw ApiException.badRequest("the request body is empty; send a JSON object", null);
        if (!node.isObject()) throw ApiException.badRequest("the request body must be a JSON object, got " + Fields.describe(node), null);
        return (ObjectNode) node;
    }

    static byte[] bytes(JsonNode node) {
        try {
            return MAPPER.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** JSON has no infinities: like SGLang, -inf becomes -999999999 (a token the sampler could never pick). */
    static double logprob(float v) {
        if (v == Float.NEGATIVE_INFINITY) return -999999999.0;
        if (Float.isNaN(v)) return -999999999.0;
        return Double.parseDouble(Float.toString(v)); // the float's shortest digits, not the double's
    }
}
