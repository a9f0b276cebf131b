package kiln.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import kiln.bench.BenchOptions;
import kiln.bench.Benchmark;
import kiln.bench.ResultJson;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.ConnectException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * `kiln serve` and `kiln sweep` as processes of the real `./kiln` launcher (on the classes this build compiled,
 * through KILN_CLASSPATH, so no nested Maven build runs): `kiln bench` waiting for a server that is still
 * starting, and a sweep that starts, uses and stops one server per configuration on the same port.
 */
@Timeout(240)
class LauncherBenchTest {
    private static final String SHAREGPT = Path.of("testdata", "bench", "sharegpt-mini.json").toString();

    @TempDir
    Path dir;

    /** {@code ./kiln ARGS}, output to {@code log}, on this JDK and these classes. */
    static ProcessBuilder kiln(Path log, String... args) {
        List<String> command = new ArrayList<>(List.of(Path.of("kiln").toAbsolutePath().toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("KILN_CLASSPATH", System.getProperty("java.class.path"));
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        return pb;
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static void assertPortFree(int port) {
        assertThrows(ConnectException.class, () -> new Socket("127.0.0.1", port).close(), "nothing listens on " + port);
    }

    @Test
    void benchWaitsForAServerThatIsStillStarting() throws Exception {
        int port = freePort();
        Path log = dir.resolve("serve.log");
        Process serve = kiln(log, "serve", "--port", Integer.toString(port), "--max-total-tokens", "4096").start();
        try {
            // started at once: the server's JVM has not even bound its port yet
            CommandLine cl = new CommandLine(new BenchCommand());
            cl.parseArgs(ArgparsePrefixes.expand(cl.getCommandSpec(), List.of("--host", "127.0.0.1", "--port", Integer.toString(port),
                    "--dataset-name", "random", "--dataset-path", SHAREGPT, "--random-input", "16", "--random-output", "4",
                    "--random-range-ratio", "1", "--num-prompts", "3", "--ready-check-timeout-sec", "120", "--disable-tqdm",
                    "--output-file", dir.resolve("b.jsonl").toString())).toArray(String[]::new));
            BenchCommand c = cl.getCommand();
            BenchOptions o = c.flags.toOptions(c.maxConcurrency);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            Benchmark.Result r = new Benchmark(o, new PrintStream(out, true, StandardCharsets.UTF_8), System.err).run();
            String stdout = out.toString(StandardCharsets.UTF_8);
            assertTrue(stdout.startsWith("Waiting up to 120s for http://127.0.0.1:" + port + "/v1/models to become ready...\n"), stdout);
            Matcher waited = Pattern.compile("Server ready in (\\d+\\.\\d)s\\.").matcher(stdout);
            assertTrue(waited.find(), stdout);
            assertTrue(Double.parseDouble(waited.group(1)) >= 1.0, "it waited for the server: " + waited.group(1) + " s");
            assertEquals(3, r.metrics().completed());
            assertEquals(3 * 16, r.metrics().totalInput());
            assertEquals(3 * 4, r.metrics().totalOutput());
        } finally {
            serve.destroy(); // SIGTERM: Kiln drains and exits
            assertTrue(serve.waitFor(60, TimeUnit.SECONDS), "kiln serve exits on SIGTERM");
        }
        assertTrue(serve.exitValue() == 0 || serve.exitValue() == 143, "exit code " + serve.exitValue());
        String text = Files.readString(log);
        assertTrue(text.contains("The server is fired up and ready to roll!") && text.contains("Server stopped."), text);
        assertPortFree(port);
    }

    @Test
    void sweepStartsUsesAndStopsARealServerPerConfiguration() throws Exception {
        int port = freePort();
        Path jsonl = dir.resolve("sweep.jsonl"), log = dir.resolve("sweep.log");
        String a = "--max-total-tokens 2048", b = "--max-total-tokens 4096 --chunked-prefill-size 8";
        Process sweep = kiln(log, "sweep", "--host", "127.0.0.1", "--port", Integer.toString(port), "--dataset-name", "random",
                "--dataset-path", SHAREGPT, "--random-input", "16", "--random-output", "4", "--random-range-ratio", "1",
                "--max-concurrency", "1,2", "--prompts-per-concurrency", "2", "--server-args", a, b,
                "--output-file", jsonl.toString(), "--disable-tqdm").start();
        try {
            assertTrue(sweep.waitFor(200, TimeUnit.SECONDS), "the sweep finishes");
        } finally {
            if (sweep.isAlive()) { // leave no server behind when the sweep hangs
                sweep.descendants().forEach(ProcessHandle::destroyForcibly);
                sweep.destroyForcibly();
            }
        }
        String out = Files.readString(log);
        assertEquals(0, sweep.exitValue(), out);

        // four runs, tagged with their configuration; each configuration's server had its own flags
        List<ObjectNode> lines = ResultJson.readLines(jsonl);
        assertEquals(List.of(a, a, b, b), lines.stream().map(l -> l.get("tag").asText()).toList());
        assertEquals(List.of(1, 2, 1, 2), lines.stream().map(l -> l.get("max_concurrency").asInt()).toList());
        assertEquals(List.of(2, 4, 2, 4), lines.stream().map(l -> l.get("completed").asInt()).toList());
        assertEquals(List.of(32, 64, 32, 64), lines.stream().map(l -> l.get("total_input_tokens").asInt()).toList());
        assertEquals(List.of(8, 16, 8, 16), lines.stream().map(l -> l.get("total_output_tokens").asInt()).toList());
        assertEquals(List.of(2048, 2048, 4096, 4096), lines.stream().map(l -> l.path("server_info").path("max_total_num_tokens").asInt()).toList());
        assertEquals(List.of("null", "null", "8", "8"), lines.stream().map(l -> l.path("server_info").path("chunked_prefill_size").toString()).toList());
        assertEquals(List.of(port, port, port, port), lines.stream().map(l -> l.path("server_info").path("port").asInt()).toList());

        // each server: started by the launcher on the sweep's port, ready, then stopped by SIGTERM (the second one
        // could bind the port only because the first had let it go)
        for (int k = 1; k <= 2; k++) {
            String serverLog = Files.readString(dir.resolve("sweep.server-" + k + ".log"));
            assertTrue(serverLog.startsWith("$ " + Path.of("kiln").toAbsolutePath() + " serve " + (k == 1 ? a : b) + " --port " + port), serverLog);
            assertTrue(serverLog.contains("The server is fired up and ready to roll!"), serverLog);
            assertTrue(serverLog.contains("Server stopped."), serverLog);
        }
        assertPortFree(port);

        // the report: where the sweep said, with its charts
        Path html = dir.resolve("sweep.html");
        assertTrue(out.contains("Report: " + html.toAbsolutePath()), out);
        String page = Files.readString(html);
        for (String chart : List.of("throughput_vs_latency.png", "itl_vs_concurrency.png", "throughput_by_concurrency.png"))
            assertTrue(page.contains("sweep_charts/" + chart) && Files.size(dir.resolve("sweep_charts").resolve(chart)) > 1000, chart);
        assertTrue(out.contains("kiln sweep: 4 runs appended to " + jsonl), out);
    }
}
