package kiln.bench;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * SGLang's native {@code /generate} stream: every event carries the whole text so far and
 * {@code meta_info.completion_tokens}; a chunk's gap is divided evenly over the tokens it added. Without text
 * (servers run with {@code --skip-tokenizer-init}) a chunk counts when its token count grows. Events are
 * scanned, not parsed into trees: once the text is known to be non-empty (it only grows) its characters are
 * skipped, and only the last event's text is decoded, at the end.
 */
final class NativeReader extends ResponseReader {
    private byte[] lastEvent;
    private String text;
    private int lastOutputLen;

    NativeReader(long startNanos, double startTime, int promptLen, int requestedOutputLen) {
        super(startNanos, startTime, promptLen, requestedOutputLen);
    }

    @Override
    String onEvent(byte[] b, int off, int len, long now) throws IOException {
        boolean hasText = false, textField = false;
        int tokens = -1;
        try (JsonParser p = JSON.getFactory().createParser(b, off, len)) {
            if (p.nextToken() != JsonToken.START_OBJECT) return notJson(b, off, len);
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken value = p.nextToken();
                switch (name) {
                    case "text" -> {
                        textField = true;
                        hasText = value == JsonToken.VALUE_STRING && (seenText() || p.getTextLength() > 0);
                    }
                    case "meta_info" -> tokens = completionTokens(p, value);
                    case "error" -> {
                        if (value != JsonToken.VALUE_NULL)
                            return "server error in the stream: " + ApiClient.abbreviate(p.readValueAsTree().toString());
                    }
                    default -> p.skipChildren();
                }
            }
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            return notJson(b, off, len);
        }
        // a server without a tokenizer (--skip-tokenizer-init) streams output_ids and counts, no text: new tokens are
        // the chunk's content then (SGLang's client sees nothing there and reports a TTFT of 0)
        if (!hasText && (textField || tokens <= lastOutputLen)) return null;
        if (tokens < 0) tokens = lastOutputLen + 1;
        if (chunkArrived(now)) {
            int added = tokens - lastOutputLen;
            if (added <= 0) return null; // a chunk without new tokens leaves the clock where it was, as in SGLang
            double gap = seconds(now - mostRecentNanos) / added;
            for (int i = 0; i < added; i++) itl.add(gap);
        }
        lastEvent = Arrays.copyOfRange(b, off, off + len);
        outputLen = tokens;
        mostRecentNanos = now;
        lastOutputLen = tokens;
        return null;
    }

    private static int completionTokens(JsonParser p, JsonToken value) throws IOException {
        if (value != JsonToken.START_OBJECT) {
            p.skipChildren();
            return -1;
        }
        int tokens = -1;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String name = p.currentName();
            JsonToken v = p.nextToken();
            if (name.equals("completion_tokens") && v == JsonToken.VALUE_NUMBER_INT) tokens = p.getIntValue();
            else p.skipChildren();
        }
        return tokens;
    }

    private static String notJson(byte[] b, int off, int len) {
        return "not JSON in the stream: " + ApiClient.abbreviate(new String(b, off, len, StandardCharsets.UTF_8));
    }

    @Override
    void onBody(JsonNode body) {
        JsonNode t = body.get("text");
        text = t != null && t.isTextual() ? t.asText() : "";
        JsonNode n = body.path("meta_info").get("completion_tokens");
        if (n != null && n.canConvertToInt()) outputLen = n.asInt();
    }

    @Override
    String text() {
        if (text == null) {
            try {
                text = lastEvent == null ? "" : JSON.readTree(lastEvent).path("text").asText("");
            } catch (IOException e) {
                text = "";
            }
        }
        return text;
    }
}
