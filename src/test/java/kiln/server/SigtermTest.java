package kiln.server;

import kiln.model.Fixture;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A real {@code kiln serve} process: SIGTERM lets the running request finish, then the process exits. */
class SigtermTest {
    @Test
    void sigtermDrainsRunningRequestsAndExits() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), "kiln.cli.Main", "serve",
                "--model-path", Fixture.ROOT.resolve("qwen2-tiny").toString(), "--skip-tokenizer-init",
                "--max-total-tokens", "2048", "--port", "0", "--skip-server-warmup");
        pb.redirectErrorStream(true);
        Process p = pb.start();
        List<String> log = new ArrayList<>();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String url = null, line;
        Pattern listening = Pattern.compile("listening on (http://\\S+)");
        try {
            while ((line = out.readLine()) != null) {
                log.add(line);
                Matcher m = listening.matcher(line);
                if (m.find()) url = m.group(1);
                if (line.contains("The server is fired up and ready to roll!")) break;
            }
            assertTrue(url != null, "no listening line in " + log);
            Thread drainLog = Thread.ofPlatform().daemon().start(() -> {
                try {
                    String l;
                    while ((l = out.readLine()) != null) synchronized (log) { log.add(l); }
                } catch (java.io.IOException e) {
                    // the process ended
                }
            });
            try (HttpClient client = HttpClient.newHttpClient()) {
                HttpRequest req = HttpRequest.newBuilder(URI.create(url + "/generate")).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                        "{\"input_ids\": [5, 6], \"stream\": true, \"sampling_params\": {\"max_new_tokens\": 40, \"ignore_eos\": true}}")).build();
                HttpResponse<InputStream> res = client.send(req, HttpResponse.BodyHandlers.ofInputStream());
                BufferedReader in = new BufferedReader(new InputStreamReader(res.body(), StandardCharsets.UTF_8));
                assertTrue(in.readLine().startsWith("data: {"));
                p.toHandle().destroy(); // SIGTERM (Process.destroy would also close our end of its output)
                String last = null;
                boolean done = false;
                while ((line = in.readLine()) != null) {
                    if (line.startsWith("data: {")) last = line;
                    if (line.equals("data: [DONE]")) done = true;
                }
                assertTrue(done && last != null && last.contains("\"type\":\"length\"") && last.contains("\"completion_tokens\":40"),
                        "the running request finished all its tokens: " + last);
            }
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the process exits after draining");
            drainLog.join(5000);
            int code = p.exitValue();
            assertEquals(0, code, "a clean drain exits 0\n" + String.join("\n", log));
            synchronized (log) {
                assertTrue(log.stream().anyMatch(l -> l.contains("Server stopped.")), String.join("\n", log));
            }
        } finally {
            p.destroyForcibly();
        }
    }
}
