package kiln.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import kiln.cli.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ConnectException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The sweep report from synthetic JSONL, and a sweep that starts and stops a server per configuration. */
class SweepTest {
    @TempDir
    Path dir;

    /** Two configurations; ITL grows with concurrency, so the limit is crossed at a known point. */
    static List<ObjectNode> synthetic() {
        List<ObjectNode> lines = new ArrayList<>();
        String[] tags = {"--chunked-prefill-size 4096", "--chunked-prefill-size 16384"};
        for (int k = 0; k < tags.length; k++) {
            for (int c : new int[]{1, 2, 4, 8, 16, 32}) {
                ObjectNode l = ResultJson.MAPPER.createObjectNode();
                l.put("tag", tags[k]);
                l.put("backend", "sglang");
                l.put("dataset_name", "random");
                l.put("request_rate", Double.POSITIVE_INFINITY);
                l.put("max_concurrency", c);
                l.put("random_input_len", 3200);
                l.put("random_output_len", 800);
                l.put("random_range_ratio", 1.0);
                l.put("duration", 100.0);
                l.put("completed", 10 * c);
                l.put("request_throughput", 0.1 * c);
                l.put("output_throughput", 80.0 * c / (1 + 0.05 * c));
                l.put("total_throughput", 400.0 * c / (1 + 0.05 * c) + k * 50);
                l.put("median_e2e_latency_ms", 1000.0 * (1 + 0.1 * c));
                l.put("median_ttft_ms", 100.0 * c);
                l.put("median_itl_ms", 10.0 + 4.0 * c + k * 10);   // k=0: 14,18,26,42,74 -> 8 under 50; k=1: 24..52 -> 4
                l.put("p99_itl_ms", 20.0 + 6.0 * c + k * 10);      // k=0: 26,32,44,68 -> 4;    k=1: 36,42,54 -> 2
                lines.add(l);
            }
        }
        return lines;
    }

    @Test
    void reportHasChartsAndTheHighestConcurrencyUnderTheLimit() throws Exception {
        Path jsonl = dir.resolve("sweep.jsonl");
        for (ObjectNode l : synthetic()) ResultJson.append(jsonl, l);
        Path html = dir.resolve("sweep.html");
        assertEquals(0, Main.execute("sweep", "--output-file", jsonl.toString(), "--report-only", "--itl-limit-ms", "50"));
        String page = Files.readString(html);
        assertEquals(3, page.split("src=\"data:image/png;base64,", -1).length - 1);
        String limits = page.substring(page.indexOf("<table id=\"itl-limit\">"), page.indexOf("</table>"));
        assertTrue(limits.contains("<td class=\"l\">--chunked-prefill-size 4096</td><td>8</td><td>4</td>"), limits);
        assertTrue(limits.contains("<td class=\"l\">--chunked-prefill-size 16384</td><td>4</td><td>2</td>"), limits);
        String runs = page.substring(page.indexOf("<table id=\"runs\">"));
        assertEquals(12, runs.split("<tr><td class=\"l\">", -1).length - 1);
        for (String chart : List.of("throughput_vs_latency.png", "itl_vs_concurrency.png", "throughput_by_concurrency.png")) {
            BufferedImage img = ImageIO.read(dir.resolve("sweep_charts").resolve(chart).toFile());
            assertNotNull(img, chart);
            assertEquals(SweepCharts.WIDTH, img.getWidth());
            assertTrue(page.contains("sweep_charts/" + chart));
        }
        Map<String, List<SweepReport.Point>> points = SweepReport.points(synthetic());
        assertEquals(List.of(1, 2, 4, 8, 16, 32), points.get("--chunked-prefill-size 4096").stream().map(SweepReport.Point::concurrency).toList());
    }

    @Test
    void reportOfNoConcurrencyRunsIsAClearError() {
        ObjectNode l = ResultJson.MAPPER.createObjectNode();
        l.putNull("max_concurrency");
        BenchException e = assertThrows(BenchException.class, () -> SweepReport.write(List.of(l), dir.resolve("x.html"), 50));
        assertTrue(e.getMessage().contains("max_concurrency"));
    }

    @Test
    @Timeout(120)
    void sweepStartsAndStopsAServerPerConfiguration() throws Exception {
        int port = BenchmarkTest.freePort();
        // a stand-in `kiln` launcher: `kiln serve ARGS` runs the stub server in its own JVM
        Path launcher = dir.resolve("kiln");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Files.writeString(launcher, "#!/bin/sh\nshift\nexec '" + java + "' -cp '" + System.getProperty("java.class.path")
                + "' kiln.bench.StubServer \"$@\"\n");
        Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path jsonl = dir.resolve("runs.jsonl");
        BenchOptions bench = new BenchOptions(BackendKind.SGLANG, null, "127.0.0.1", port, null, null, "random-ids", "",
                1, null, null, 8, 6, 1.0, Double.POSITIVE_INFINITY, null, 1, jsonl.toString(), false, false, false, null, 1,
                false, true, false, 4, 3, 40, 8, 5, 1.0, 5, true, null, List.of(), 30);
        Sweep.Options options = new Sweep.Options(bench, List.of(1, 2), List.of("--token-delay-ms 1", "--token-delay-ms 2"),
                2, 50, null, null, 60);
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        String before = System.getProperty("kiln.home");
        System.setProperty("kiln.home", dir.toString());
        Sweep.Outcome outcome;
        try {
            outcome = new Sweep(options, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8))
                    .withTokenizer(new Utf8ByteTokenizer()).run();
        } finally {
            if (before == null) System.clearProperty("kiln.home");
            else System.setProperty("kiln.home", before);
        }
        assertTrue(outcome.failures().isEmpty(), outcome.failures() + "\n" + err);
        List<ObjectNode> lines = ResultJson.readLines(jsonl);
        assertEquals(4, lines.size());
        assertEquals(List.of("--token-delay-ms 1", "--token-delay-ms 1", "--token-delay-ms 2", "--token-delay-ms 2"),
                lines.stream().map(l -> l.get("tag").asText()).toList());
        assertEquals(List.of(1, 2, 1, 2), lines.stream().map(l -> l.get("max_concurrency").asInt()).toList());
        assertEquals(List.of(2, 4, 2, 4), lines.stream().map(l -> l.get("completed").asInt()).toList());
        for (int k = 1; k <= 2; k++) {
            String log = Files.readString(dir.resolve("runs.server-" + k + ".log"));
            assertTrue(log.startsWith("$ " + launcher + " serve --token-delay-ms " + k + " --port " + port), log);
            assertTrue(log.contains("stub server on port " + port), log);
        }
        assertTrue(Files.exists(dir.resolve("runs.html")));
        // the last server was stopped: nothing listens on the port any more
        assertThrows(ConnectException.class, () -> new Socket("127.0.0.1", port).close());
    }

    @Test
    void launcherComesFromKilnHome() throws Exception {
        String before = System.getProperty("kiln.home");
        try {
            System.setProperty("kiln.home", dir.toString());
            BenchException e = assertThrows(BenchException.class, ServerProcess::launcher);
            assertTrue(e.getMessage().contains(dir.resolve("kiln").toString()), e.getMessage());
        } finally {
            if (before == null) System.clearProperty("kiln.home");
            else System.setProperty("kiln.home", before);
        }
        assertEquals(List.of("--a", "1", "--b", "x y", ""), ServerProcess.splitArgs("--a 1 --b 'x y' \"\""));
    }
}
