package kiln.bench;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * SGLang's native {@code /generate} stream: every event carries the whole text so far and
 * {@code meta_info.completion_tokens}; a chunk's gap is divided evenly over the tokens it added.
 */
final class NativeReader extends ResponseReader {
    private String text = "";
    private int lastOutputLen;

    NativeReader(long startNanos, double startTime, int promptLen, int requestedOutputLen) {
        super(startNanos, startTime, promptLen, requestedOutputLen);
    }

    @Override
    void onEvent(JsonNode data, long now) {
        JsonNode t = data.get("text");
        if (t == null || !t.isTextual() || t.asText().isEmpty()) return;
        int tokens = completionTokens(data, lastOutputLen + 1);
        if (chunkArrived(now)) {
            int added = tokens - lastOutputLen;
            if (added <= 0) return; // a chunk without new tokens leaves the clock where it was, as in SGLang
            double gap = seconds(now - mostRecentNanos) / added;
            for (int i = 0; i < added; i++) itl.add(gap);
        }
        text = t.asText();
        outputLen = tokens;
        mostRecentNanos = now;
        lastOutputLen = tokens;
    }

    @Override
    void onBody(JsonNode body) {
        JsonNode t = body.get("text");
        text = t != null && t.isTextual() ? t.asText() : "";
        outputLen = completionTokens(body, outputLen);
    }

    private static int completionTokens(JsonNode data, int fallback) {
        JsonNode n = data.path("meta_info").get("completion_tokens");
        return n != null && n.canConvertToInt() ? n.asInt() : fallback;
    }

    @Override
    String text() {
        return text;
    }
}
