package kiln.server;

import kiln.model.Fixture;
import org.junit.jupiter.api.Test;

import java.net.Socket;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;

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
        List<String> serve = ServeProcess.command("--model-path", Fixture.ROOT.resolve("llama-tiny").toString(), "--skip-tokenizer-init",
                "--max-total-tokens", "1024");
        String cmd = "ulimit -n 400 && exec '" + String.join("' '", serve) + "'";
        try (ServeProcess served = ServeProcess.start(new ProcessBuilder("bash", "-c", cmd))) {
            String url = served.url();
            List<String> log = served.log();
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
        }
    }
}
