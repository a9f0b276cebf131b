package kiln.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * Reads one request's answer and times it as sglang.bench_serving does: TTFT when the first chunk with text
 * arrives, one ITL per later chunk with text, latency at the last line read. Subclasses know where the text and
 * the server's token count sit in their API's events.
 */
abstract sealed class ResponseReader permits NativeReader, OpenAiReader {
    final long startNanos;
    final double startTime;
    final int promptLen;
    int outputLen;
    double ttft;
    long mostRecentNanos;
    double latency;
    final Metrics.DoubleList itl = new Metrics.DoubleList();
    private boolean first = true;

    ResponseReader(long startNanos, double startTime, int promptLen, int requestedOutputLen) {
        this.startNanos = startNanos;
        this.startTime = startTime;
        this.promptLen = promptLen;
        this.outputLen = requestedOutputLen;
        this.mostRecentNanos = startNanos;
    }

    static final ObjectMapper JSON = new ObjectMapper();

    /** One streamed event, the JSON after "data: " in {@code b[off, off+len)}; returns an error message or null. */
    abstract String onEvent(byte[] b, int off, int len, long now) throws IOException;

    /** The event as a tree, or the error it carries (a non-JSON line, or an {"error": ...} object). */
    static JsonNode tree(byte[] b, int off, int len) throws EventError {
        JsonNode data;
        try {
            data = JSON.readTree(b, off, len);
        } catch (IOException e) {
            throw new EventError("not JSON in the stream: " + ApiClient.abbreviate(new String(b, off, len, StandardCharsets.UTF_8)));
        }
        JsonNode err = data == null ? null : data.get("error");
        if (data == null || !data.isObject()) throw new EventError("not a JSON object in the stream: " + ApiClient.abbreviate(new String(b, off, len, StandardCharsets.UTF_8)));
        if (err != null && !err.isNull()) throw new EventError("server error in the stream: " + ApiClient.abbreviate(err.toString()));
        return data;
    }

    /** An event that ends the request as a failure. */
    static final class EventError extends Exception {
        EventError(String message) {
            super(message, null, false, false);
        }
    }

    /** The whole answer of a non-streamed request. */
    abstract void onBody(JsonNode body);

    abstract String text();

    /** Records a chunk that carried text; returns false for the first one (which sets TTFT instead). */
    final boolean chunkArrived(long now) {
        if (first) {
            first = false;
            ttft = seconds(now - startNanos);
            mostRecentNanos = now;
            return false;
        }
        return true;
    }

    final boolean seenText() {
        return !first;
    }

    final RequestOutput success() {
        return new RequestOutput(true, text(), latency, ttft, itl.toArray(), promptLen, outputLen, "", startTime);
    }

    final RequestOutput failure(String error) {
        return RequestOutput.failure(promptLen, error, startTime);
    }

    static double seconds(long nanos) {
        return nanos / 1e9;
    }

    /** The server's completion token count in an OpenAI {@code usage} object, or {@code fallback}. */
    static int usageTokens(JsonNode data, int fallback) {
        JsonNode usage = data.get("usage");
        if (usage == null || !usage.isObject()) return fallback;
        JsonNode n = usage.get("completion_tokens");
        return n != null && n.canConvertToInt() ? n.asInt() : fallback;
    }
}
