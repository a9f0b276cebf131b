package kiln.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Sends benchmark requests to one of the three APIs and reads their answers line by line as they stream in, on
 * the calling (virtual) thread. Payloads are the ones sglang.bench_serving sends. A request fails, never hangs:
 * connection errors fail at once, and a watchdog closes any answer that stays silent for the idle timeout.
 */
public final class ApiClient implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final BackendKind backend;
    private final URI apiUrl;
    private final String model;
    private final Map<String, String> headers;
    private final ObjectNode extraBody;
    private final boolean stream;
    private final boolean ignoreEos;
    private final Duration idle;
    private final long idleNanos;
    private final HttpClient http;
    private final ScheduledExecutorService watchdog;
    private final Map<Watched, Boolean> open = new ConcurrentHashMap<>();

    public ApiClient(BackendKind backend, String baseUrl, String model, Map<String, String> headers,
                     ObjectNode extraBody, boolean stream, boolean ignoreEos, double idleTimeoutSec) {
        this.backend = backend;
        this.apiUrl = URI.create(baseUrl + backend.api.path);
        this.model = model;
        this.headers = Map.copyOf(headers);
        this.extraBody = extraBody == null ? JSON.createObjectNode() : extraBody;
        this.stream = stream;
        this.ignoreEos = ignoreEos;
        this.idle = Duration.ofMillis((long) (idleTimeoutSec * 1000));
        this.idleNanos = idle.toNanos();
        // HTTP/1.1 as the servers speak it (no h2c upgrade attempt on every new connection).
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10)).build();
        this.watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "kiln-bench-watchdog");
            t.setDaemon(true);
            return t;
        });
        watchdog.scheduleAtFixedRate(this::closeSilentStreams, 1, 1, TimeUnit.SECONDS);
    }

    public URI apiUrl() {
        return apiUrl;
    }

    /** The JSON body for one request, as SGLang builds it for this backend. */
    public ObjectNode payload(Prompt prompt, int outputLen) {
        ObjectNode p = JSON.createObjectNode();
        switch (backend.api) {
            case NATIVE -> {
                switch (prompt) {
                    case Prompt.Text t -> p.put("text", t.text());
                    case Prompt.TokenIds ids -> {
                        ArrayNode a = p.putArray("input_ids");
                        for (int id : ids.ids()) a.add(id);
                    }
                }
                ObjectNode sp = p.putObject("sampling_params");
                sp.put("temperature", 0.0);
                sp.put("max_new_tokens", outputLen);
                sp.put("ignore_eos", ignoreEos);
                p.put("stream", stream);
                p.put("return_logprob", false);
                p.put("logprob_start_len", -1);
            }
            case COMPLETIONS -> {
                p.put("model", model);
                p.put("prompt", text(prompt));
                p.put("best_of", 1);
                p.put("max_tokens", outputLen);
                p.put("stream", stream);
                askForUsage(p);
                if (!extraBody.has("temperature")) p.put("temperature", 0.0);
                if (!extraBody.has("ignore_eos")) p.put("ignore_eos", ignoreEos);
            }
            case CHAT -> {
                p.put("model", model);
                ObjectNode message = p.putArray("messages").addObject();
                message.put("role", "user");
                message.put("content", text(prompt));
                p.put("max_completion_tokens", outputLen);
                p.put("stream", stream);
                askForUsage(p);
                if (!extraBody.has("temperature")) p.put("temperature", 0.0);
                if (!extraBody.has("ignore_eos")) p.put("ignore_eos", ignoreEos);
            }
        }
        p.setAll(extraBody);
        return p;
    }

    /**
     * OpenAI streams carry {@code usage} only when asked. SGLang's client does not ask and counts the requested
     * length; Kiln asks (as vLLM's benchmark does), so output counts are the server's even when a request stops
     * early ({@code --disable-ignore-eos}, a stop string, a cap in {@code --extra-request-body}).
     */
    private void askForUsage(ObjectNode p) {
        if (stream && !extraBody.has("stream_options")) p.putObject("stream_options").put("include_usage", true);
    }

    private static String text(Prompt prompt) {
        return switch (prompt) {
            case Prompt.Text t -> t.text();
            case Prompt.TokenIds ids -> throw new IllegalArgumentException("token-id prompts need the native API");
        };
    }

    /** Sends one request and reads its answer to the end; {@code clockOrigin} is the benchmark's time zero. */
    public RequestOutput send(Prompt prompt, int promptLen, int outputLen, long clockOrigin) {
        byte[] body;
        try {
            body = JSON.writeValueAsBytes(payload(prompt, outputLen));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        HttpRequest.Builder rb = HttpRequest.newBuilder(apiUrl).timeout(idle)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        headers.forEach(rb::header);
        long st = System.nanoTime();
        ResponseReader reader = switch (backend.api) {
            case NATIVE -> new NativeReader(st, ResponseReader.seconds(st - clockOrigin), promptLen, outputLen);
            case COMPLETIONS -> new OpenAiReader(false, st, ResponseReader.seconds(st - clockOrigin), promptLen, outputLen);
            case CHAT -> new OpenAiReader(true, st, ResponseReader.seconds(st - clockOrigin), promptLen, outputLen);
        };
        Watched watched = null;
        try {
            HttpResponse<InputStream> response = http.send(rb.build(), HttpResponse.BodyHandlers.ofInputStream());
            watched = new Watched(response.body());
            open.put(watched, Boolean.TRUE);
            if (response.statusCode() != 200) {
                String text = new String(response.body().readAllBytes(), StandardCharsets.UTF_8);
                return reader.failure("HTTP " + response.statusCode() + ": " + text.strip());
            }
            String error = stream ? readStream(watched, reader) : readWhole(watched, reader);
            return error == null ? reader.success() : reader.failure(error);
        } catch (IOException e) {
            if (watched != null && watched.timedOut) return reader.failure(silence());
            return reader.failure(describe(e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return reader.failure("interrupted");
        } finally {
            if (watched != null) {
                open.remove(watched);
                watched.close();
            }
        }
    }

    /** SSE: strip each line, drop "data:" and skip blanks, SSE comments and "[DONE]"; latency is the last line. */
    private String readStream(Watched in, ResponseReader reader) throws IOException {
        SseLines lines = new SseLines(in.stream);
        while (lines.next()) {
            long now = System.nanoTime();
            in.lastActivity = now;
            if (lines.isEmpty() || lines.startsWith(":") || lines.startsWith("event:") || lines.startsWith("id:")
                    || lines.startsWith("retry:")) continue;
            if (lines.startsWith("data:")) lines.skip(5);
            reader.latency = ResponseReader.seconds(now - reader.startNanos);
            if (lines.is("[DONE]")) continue;
            String error = reader.onEvent(lines.buf, lines.start, lines.end - lines.start, now);
            if (error != null) return error;
        }
        if (in.timedOut) return silence();
        return null;
    }

    private String readWhole(Watched in, ResponseReader reader) throws IOException {
        byte[] bytes = in.stream.readAllBytes();
        long now = System.nanoTime();
        if (in.timedOut) return silence();
        JsonNode body;
        try {
            body = JSON.readTree(bytes);
        } catch (IOException e) {
            return "answer is not JSON: " + abbreviate(new String(bytes, StandardCharsets.UTF_8));
        }
        reader.latency = ResponseReader.seconds(now - reader.startNanos);
        reader.ttft = reader.latency; // without streaming the first token arrives with the last, as in SGLang
        reader.onBody(body);
        return null;
    }

    private String silence() {
        return "no data from the server for " + idle.toSeconds() + " s (--idle-timeout-sec)";
    }

    private String describe(IOException e) {
        if (e instanceof ConnectException) return "cannot connect to " + apiUrl + " (connection refused: is the server running?)";
        if (e instanceof HttpTimeoutException) return silence();
        String msg = e.getMessage();
        return e.getClass().getSimpleName() + (msg == null ? "" : ": " + msg) + " (" + apiUrl + ")";
    }

    static String abbreviate(String s) {
        return s.length() <= 300 ? s : s.substring(0, 300) + "...";
    }

    private void closeSilentStreams() {
        long now = System.nanoTime();
        for (Watched w : open.keySet()) {
            if (now - w.lastActivity > idleNanos) {
                w.timedOut = true;
                w.close();
            }
        }
    }

    @Override
    public void close() {
        watchdog.shutdownNow();
        http.close();
    }

    /** A response body under the watchdog's eye. */
    private static final class Watched {
        final InputStream stream;
        volatile long lastActivity = System.nanoTime();
        volatile boolean timedOut;

        Watched(InputStream stream) {
            this.stream = stream;
        }

        void close() {
            try {
                stream.close();
            } catch (IOException ignored) {
                // closing to unblock a reader; nothing left to save
            }
        }
    }
}
