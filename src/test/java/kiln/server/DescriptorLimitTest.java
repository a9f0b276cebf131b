package kiln.server;

import kiln.model.Fixture;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real process with a low file descriptor limit (ulimit -n 400): more idle connections than it has descriptors for
 * neither stop its listener nor leave it refusing work once they go away.
 */
class DescriptorLimitTest {
    @Test
    void runningShortOfDescriptorsDoesNotStopTheListener() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cmd = "ulimit -n 400 && exec '" + java + "' --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED"
                + " -cp '" + System.getProperty("java.class.path") + "' kiln.cli.Main serve --model-path '"
                + Fixture.ROOT.resolve("llama-tiny") + "' --skip-tokenizer-init --max-total-tokens 1024 --port 0 --skip-server-warmup";
        Process p = new ProcessBuilder("bash", "-c", cmd).redirectErrorStream(true).start();
        List<String> log = new ArrayList<>();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            String url = null, line;
            Pattern listening = Pattern.compile("listening on (http://\\S+)");
            while ((line = out.readLine()) != null) {
                log.add(line);
                Matcher m = listening.matcher(line);
                if (m.find()) url = m.group(1);
                if (line.contains("ready to roll")) break;
            }
            assertTrue(url != null, String.join("\n", log));
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    for (String l; (l = out.readLine()) != null; ) synchronized (log) { log.add(l); }
                } catch (java.io.IOException e) {
                    // the process ended
                }
            });
            URI uri = URI.create(url);
            List<Socket> idle = new ArrayList<>();
            try {
                for (int i = 0; i < 600; i++) idle.add(new Socket(uri.getHost(), uri.getPort()));
                Thread.sleep(1000);
            } finally {
                for (Socket s : idle) s.close();
            }
            // once they are gone the server answers again: a connection refused at the cap comes back empty at once,
            // so retry for a while (the server may still be closing the idle ones), not a number of times
            HttpEdgeTest.Exchange health = null;
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (health == null || health.text().isEmpty() && System.nanoTime() < deadline) {
                if (health != null) Thread.sleep(100);
                health = HttpEdgeTest.exchange(url, "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 10_000);
            }
            assertFalse(health.text().isEmpty(), "the server still closed every new connection 30 s after the idle ones went");
            assertEquals(200, health.status(), health.text());
            synchronized (log) {
                assertFalse(log.stream().anyMatch(l -> l.contains("terminating")), String.join("\n", log));
                assertTrue(log.stream().anyMatch(l -> l.contains("Connections: at most 16 open")), String.join("\n", log));
            }
        } finally {
            p.destroyForcibly();
            p.waitFor();
        }
    }
}
