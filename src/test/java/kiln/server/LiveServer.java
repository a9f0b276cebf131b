package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import kiln.cli.ServeCommand;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A real {@code kiln serve} on an ephemeral loopback port, and a JDK HttpClient to talk to it. */
final class LiveServer implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();

    final KilnServer server;
    final String url;
    private final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private String apiKey;

    record Response(int status, java.net.http.HttpHeaders headers, String body) {
        JsonNode json() {
            try {
                return JSON.readTree(body);
            } catch (IOException e) {
                throw new AssertionError("not JSON (HTTP " + status + "): " + body, e);
            }
        }
    }

    /** {@code kiln serve ARGS --port 0}: flags exactly as on the command line. */
    LiveServer(String... args) {
        String[] all = java.util.Arrays.copyOf(args, args.length + 2);
        all[args.length] = "--port";
        all[args.length + 1] = "0";
        this.server = ServeCommand.launch(all);
        this.url = server.url();
    }

    LiveServer withKey(String key) {
        this.apiKey = key;
        return this;
    }

    HttpRequest.Builder request(String path) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(120));
        if (apiKey != null) b.header("Authorization", "Bearer " + apiKey);
        return b;
    }

    Response send(HttpRequest req) {
        try {
            HttpResponse<String> r = client.send(req, HttpResponse.BodyHandlers.ofString());
            return new Response(r.statusCode(), r.headers(), r.body());
        } catch (IOException | InterruptedException e) {
            throw new AssertionError(req.method() + " " + req.uri() + " failed: " + e, e);
        }
    }

    Response get(String path) {
        return send(request(path).GET().build());
    }

    Response post(String path, String body) {
        return send(request(path).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build());
    }

    Response post(String path, JsonNode body) {
        return post(path, body.toString());
    }

    /** The data lines of a server-sent event stream, as parsed JSON, up to and excluding [DONE] (which must come). */
    List<JsonNode> stream(String path, JsonNode body) {
        HttpRequest req = request(path).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
        try {
            HttpResponse<java.io.InputStream> r = client.send(req, HttpResponse.BodyHandlers.ofInputStream());
            if (r.statusCode() != 200) throw new AssertionError("HTTP " + r.statusCode() + ": " + new String(r.body().readAllBytes(), StandardCharsets.UTF_8));
            if (!r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream")) throw new AssertionError("not SSE: " + r.headers());
            List<JsonNode> events = new ArrayList<>();
            try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
                String line;
                boolean done = false;
                while ((line = in.readLine()) != null) {
                    if (line.isEmpty()) continue;
                    if (!line.startsWith("data: ")) throw new AssertionError("not an SSE data line: " + line);
                    String data = line.substring(6);
                    if (data.equals("[DONE]")) {
                        done = true;
                        continue;
                    }
                    if (done) throw new AssertionError("event after [DONE]: " + data);
                    events.add(JSON.readTree(data));
                }
                if (!done) throw new AssertionError("the stream ended without data: [DONE]");
            }
            return events;
        } catch (IOException | InterruptedException e) {
            throw new AssertionError("stream " + path + " failed: " + e, e);
        }
    }

    /** A sample's value from /metrics (labels other than model_name given as {@code label="value"}), or NaN. */
    double metric(String name, String... labels) {
        String text = get("/metrics").body();
        Pattern line = Pattern.compile("^" + Pattern.quote(name) + "\\{([^}]*)\\} (\\S+)$", Pattern.MULTILINE);
        Matcher m = line.matcher(text);
        outer:
        while (m.find()) {
            for (String l : labels) if (!m.group(1).contains(l)) continue outer;
            return Double.parseDouble(m.group(2));
        }
        return Double.NaN;
    }

    /** Waits (up to 10 s) until a metric reaches the value: engine gauges follow requests asynchronously. */
    void awaitMetric(String name, double value) {
        long deadline = System.nanoTime() + 10_000_000_000L;
        double v;
        while ((v = metric(name)) != value) {
            if (System.nanoTime() > deadline) throw new AssertionError(name + " stayed at " + v + ", expected " + value);
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        }
    }

    static JsonNode json(String text) {
        try {
            return JSON.readTree(text);
        } catch (IOException e) {
            throw new IllegalArgumentException(text, e);
        }
    }

    @Override
    public void close() {
        server.close();
        client.close();
    }
}
