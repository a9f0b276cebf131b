package kiln.bench;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * OpenAI {@code /v1/chat/completions}: new text in {@code choices[0].delta}. Reasoning models (R1) stream their
 * thinking as {@code reasoning_content} (vLLM: {@code reasoning}) before the answer; it counts as output text, as
 * in current SGLang, so TTFT is the first thought and not the first answer word.
 */
final class ChatReader extends ResponseReader {
    private final StringBuilder text = new StringBuilder();

    ChatReader(long startNanos, double startTime, int promptLen, int requestedOutputLen) {
        super(startNanos, startTime, promptLen, requestedOutputLen);
    }

    @Override
    String onEvent(byte[] b, int off, int len, long now) {
        JsonNode data;
        try {
            data = tree(b, off, len);
        } catch (EventError e) {
            return e.getMessage();
        }
        outputLen = usageTokens(data, outputLen);
        String piece = content(data.path("choices").path(0).path("delta"));
        if (piece.isEmpty()) return null;
        if (chunkArrived(now)) itl.add(seconds(now - mostRecentNanos));
        mostRecentNanos = now;
        text.append(piece);
        return null;
    }

    @Override
    void onBody(JsonNode body) {
        text.append(content(body.path("choices").path(0).path("message")));
        outputLen = usageTokens(body, outputLen);
    }

    private static String content(JsonNode message) {
        String reasoning = message.path("reasoning_content").asText("");
        if (reasoning.isEmpty()) reasoning = message.path("reasoning").asText("");
        return reasoning + message.path("content").asText("");
    }

    @Override
    String text() {
        return text.toString();
    }
}
