package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import kiln.model.Fixture;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A real {@code kiln serve} process: SIGTERM lets the running request finish, then the process exits. */
class SigtermTest {
    /** The lines of a streamed answer, read until the server closes it; SIGTERM is sent after the first event. */
    private static List<String> streamThroughSigterm(ServeProcess served, String path, String body) throws Exception {
        try (HttpClient client = HttpClient.newHttpClient()) {
            HttpRequest req = HttpRequest.newBuilder(URI.create(served.url() + path)).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build();
            HttpResponse<InputStream> res = client.send(req, HttpResponse.BodyHandlers.ofInputStream());
            assertEquals(200, res.statusCode());
            BufferedReader in = new BufferedReader(new InputStreamReader(res.body(), StandardCharsets.UTF_8));
            List<String> lines = new ArrayList<>();
            String line = in.readLine();
            assertTrue(line.startsWith("data: {"), line);
            lines.add(line);
            served.sigterm();
            try {
                while ((line = in.readLine()) != null) if (!line.isEmpty()) lines.add(line);
            } catch (IOException e) {
                throw new AssertionError("the stream broke instead of ending: " + e + "\nafter " + lines.getLast(), e);
            }
            return lines;
        }
    }

    @Test
    void sigtermDrainsRunningRequestsAndExits() throws Exception {
        try (ServeProcess served = ServeProcess.start("--model-path", Fixture.ROOT.resolve("qwen2-tiny").toString(), "--skip-tokenizer-init",
                "--max-total-tokens", "2048")) {
            List<String> lines = streamThroughSigterm(served, "/generate",
                    "{\"input_ids\": [5, 6], \"stream\": true, \"sampling_params\": {\"max_new_tokens\": 40, \"ignore_eos\": true}}");
            assertEquals("data: [DONE]", lines.getLast());
            String last = lines.get(lines.size() - 2);
            assertTrue(last.contains("\"type\":\"length\"") && last.contains("\"completion_tokens\":40"),
                    "the running request finished all its tokens: " + last);
            assertEquals(0, served.exitStatus(), "a clean drain exits 0\n" + served.logText());
            assertTrue(served.logText().contains("Server stopped."), served.logText());
        }
    }

    /**
     * Requests the drain could not wait for end as any request the server had to abort does, saying that the drain
     * ran out: a stream with an error event, then [DONE]; a plain request with a 503. The exit status is 1.
     */
    @Test
    void requestsCutByTheDrainTimeoutAreToldSo() throws Exception {
        try (ServeProcess served = ServeProcess.start("--drain-timeout", "1", "--max-total-tokens", "8192", "--enable-metrics");
             HttpClient client = HttpClient.newHttpClient()) {
            String chat = "{\"messages\": [{\"role\": \"user\", \"content\": \"Count to a million.\"}], \"max_tokens\": 4000, "
                    + "\"ignore_eos\": true";
            var plain = client.sendAsync(HttpRequest.newBuilder(URI.create(served.url() + "/v1/chat/completions"))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(chat + "}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            awaitRunning(client, served, 1);
            List<String> lines = streamThroughSigterm(served, "/v1/chat/completions", chat + ", \"stream\": true}");
            assertEquals("data: [DONE]", lines.getLast(), "the stream ends with [DONE]: " + lines.subList(Math.max(0, lines.size() - 3), lines.size()));
            JsonNode error = LiveServer.json(lines.get(lines.size() - 2).substring("data: ".length())).path("error");
            assertTrue(error.path("message").asText().contains("drain of 1 s ran out"), "the last event says why: " + lines.get(lines.size() - 2));
            assertEquals("service_unavailable", error.path("code").asText(), error.toString());

            HttpResponse<String> r = plain.get(30, TimeUnit.SECONDS);
            assertEquals(503, r.statusCode(), r.body());
            assertTrue(LiveServer.json(r.body()).at("/error/message").asText().contains("drain of 1 s ran out"), r.body());

            assertEquals(1, served.exitStatus(), "a drain that ran out exits 1\n" + served.logText());
            assertTrue(served.logText().contains("Server stopped."), served.logText());
        }
    }

    private static void awaitRunning(HttpClient client, ServeProcess served, int running) throws Exception {
        Pattern gauge = Pattern.compile("^kiln_num_running_reqs\\{[^}]*\\} (\\S+)$", Pattern.MULTILINE);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            String text = client.send(HttpRequest.newBuilder(URI.create(served.url() + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
            Matcher m = gauge.matcher(text);
            if (m.find() && Double.parseDouble(m.group(1)) >= running) return;
            assertTrue(System.nanoTime() < deadline, "never " + running + " running:\n" + text);
            Thread.sleep(20);
        }
    }
}
