package kiln.bench;

import com.fasterxml.jackson.databind.JsonNode;

/** OpenAI {@code /v1/completions}: each event carries new text in {@code choices[0].text}. */
final class CompletionsReader extends ResponseReader {
    private final StringBuilder text = new StringBuilder();

    CompletionsReader(long startNanos, double startTime, int promptLen, int requestedOutputLen) {
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
        String piece = data.path("choices").path(0).path("text").asText("");
        if (piece.isEmpty()) return null;
        if (chunkArrived(now)) itl.add(seconds(now - mostRecentNanos));
        mostRecentNanos = now;
        text.append(piece);
        return null;
    }

    @Override
    void onBody(JsonNode body) {
        text.append(body.path("choices").path(0).path("text").asText(""));
        outputLen = usageTokens(body, outputLen);
    }

    @Override
    String text() {
        return text.toString();
    }
}
