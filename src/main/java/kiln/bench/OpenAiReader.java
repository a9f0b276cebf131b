package kiln.bench;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * The OpenAI APIs: {@code /v1/completions} streams new text in {@code choices[0].text} (a whole answer in the same
 * place); {@code /v1/chat/completions} in {@code choices[0].delta} (whole answers in {@code choices[0].message}).
 * Reasoning models (R1) stream their thinking as {@code reasoning_content} (vLLM: {@code reasoning}) before the
 * answer; it counts as output text, as in current SGLang, so TTFT is the first thought and not the first answer word.
 */
final class OpenAiReader extends ResponseReader {
    private final boolean chat;
    private final StringBuilder text = new StringBuilder();

    OpenAiReader(boolean chat, long startNanos, double startTime, int promptLen, int requestedOutputLen) {
        super(startNanos, startTime, promptLen, requestedOutputLen);
        this.chat = chat;
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
        JsonNode choice = data.path("choices").path(0);
        String piece = chat ? content(choice.path("delta")) : choice.path("text").asText("");
        if (piece.isEmpty()) return null;
        if (chunkArrived(now)) itl.add(seconds(now - mostRecentNanos));
        mostRecentNanos = now;
        text.append(piece);
        return null;
    }

    @Override
    void onBody(JsonNode body) {
        JsonNode choice = body.path("choices").path(0);
        text.append(chat ? content(choice.path("message")) : choice.path("text").asText(""));
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
