package kiln.bench;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;

/**
 * The small requests around a run: readiness, the served model's name, where its tokenizer lives, the server's
 * info for the JSONL line, and the prefix-cache flush. Each is a short GET/POST with a 5-second timeout.
 */
public final class ServerApi {
    private static final String AUTH_HINT = " (the server wants an API key: set OPENAI_API_KEY, sent as "
            + "'Authorization: Bearer KEY', or give --header Authorization='Bearer KEY')";
    private final String baseUrl;
    private final Map<String, String> headers;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    public ServerApi(String baseUrl, Map<String, String> headers) {
        this.baseUrl = baseUrl;
        this.headers = Map.copyOf(headers);
    }

    /** A 200 answer's JSON, or null (any failure: the caller decides whether that matters). */
    public JsonNode getJson(String path) {
        try {
            HttpResponse<String> r = http.send(request(path).GET().build(), HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200 ? ResultJson.MAPPER.readTree(r.body()) : null;
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /** The HTTP status of {@code GET path}, or -1 when there is no answer. */
    public int status(String path) {
        try {
            return http.send(request(path).GET().build(), HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /**
     * Polls {@code GET /v1/models} once a second until it answers 200, as SGLang's ready check does.
     * Throws a {@link BenchException} naming the URL and the last error once {@code timeoutSec} has passed.
     */
    public void awaitReady(int timeoutSec, PrintStream log) {
        String url = baseUrl + "/v1/models";
        log.println("Waiting up to " + timeoutSec + "s for " + url + " to become ready...");
        long start = System.nanoTime();
        String lastError = "no answer";
        while (true) {
            try {
                HttpResponse<String> r = http.send(request("/v1/models").GET().build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) {
                    log.printf("Server ready in %.1fs.%n", (System.nanoTime() - start) / 1e9);
                    return;
                }
                // waiting does not make a missing key valid
                if (r.statusCode() == 401 || r.statusCode() == 403) throw new BenchException(url + " answered HTTP "
                        + r.statusCode() + refusal(r));
                lastError = "HTTP " + r.statusCode();
            } catch (IOException e) {
                lastError = e instanceof java.net.ConnectException ? "connection refused" : e.toString();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new BenchException("interrupted while waiting for " + url);
            }
            double elapsed = (System.nanoTime() - start) / 1e9;
            if (elapsed >= timeoutSec)
                throw new BenchException("server at " + url + " is not ready after " + timeoutSec
                        + " s (--ready-check-timeout-sec); last attempt: " + lastError);
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new BenchException("interrupted while waiting for " + url);
            }
        }
    }

    /** The first model id of {@code GET /v1/models}. */
    public String firstModelId() {
        String url = baseUrl + "/v1/models";
        JsonNode models;
        try {
            HttpResponse<String> r = http.send(request("/v1/models").GET().build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() == 401 || r.statusCode() == 403)
                throw new BenchException("Failed to fetch model from " + url + ": HTTP " + r.statusCode() + refusal(r));
            if (r.statusCode() != 200) throw new BenchException("Failed to fetch model from " + url + ": HTTP " + r.statusCode()
                    + ". Give the model with --model, or the right server with --host/--port/--base-url.");
            models = ResultJson.MAPPER.readTree(r.body());
        } catch (IOException e) {
            throw new BenchException("Failed to fetch model from " + url + ": "
                    + (e instanceof java.net.ConnectException ? "connection refused" : e.toString())
                    + ". Please specify the correct host and port using --host and --port (or --base-url).");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BenchException("interrupted");
        }
        JsonNode id = models.path("data").path(0).get("id");
        if (id == null || !id.isTextual())
            throw new BenchException("No model specified or found at " + url + ". Please provide a model using --model.");
        return id.asText();
    }

    /** SGLang's server info ({@code /server_info}, older servers {@code /get_server_info}), or null. */
    public JsonNode serverInfo() {
        JsonNode info = getJson("/server_info");
        return info != null ? info : getJson("/get_server_info");
    }

    /** Speculative decoding's average accept length from the server info, when the server reports one. */
    public static Double acceptLength(JsonNode serverInfo) {
        if (serverInfo == null) return null;
        JsonNode info = serverInfo.has("decode") ? serverInfo.path("decode").path(0) : serverInfo;
        JsonNode v = info.path("internal_states").path(0).get("avg_spec_accept_length");
        return v != null && v.isNumber() ? v.asDouble() : null;
    }

    /** Flushes the server's prefix cache ({@code /flush_cache}; vLLM: {@code /reset_prefix_cache}). */
    public void flushCache(BackendKind backend) {
        String path = backend.cliName.startsWith("vllm") ? "/reset_prefix_cache" : "/flush_cache";
        try {
            HttpResponse<String> r = http.send(request(path).timeout(Duration.ofSeconds(60))
                    .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() / 100 != 2)
                throw new BenchException("--flush-cache: POST " + baseUrl + path + " answered HTTP " + r.statusCode() + ": " + r.body().strip());
        } catch (IOException e) {
            throw new BenchException("--flush-cache: POST " + baseUrl + path + " failed: " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BenchException("interrupted");
        }
    }

    private HttpRequest.Builder request(String path) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(baseUrl + path)).timeout(Duration.ofSeconds(5));
        headers.forEach(b::header);
        return b;
    }

    /**
     * Why the server refused: a 403's own error message when it gave one (Kiln's for a Host header or an origin;
     * a missing key is a 401), else the hint about API keys.
     */
    private static String refusal(HttpResponse<String> r) {
        if (r.statusCode() == 403) {
            try {
                String message = ResultJson.MAPPER.readTree(r.body()).path("error").path("message").asText("");
                if (!message.isEmpty()) return ": " + message;
            } catch (IOException | RuntimeException e) {
                // not JSON: the hint below
            }
        }
        return AUTH_HINT;
    }
}
