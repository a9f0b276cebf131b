package kiln.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import kiln.KilnProperty;
import kiln.cli.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The sweep report from synthetic JSONL, and where the launcher comes from. A sweep over real servers started by the
 * real launcher: kiln.cli.LauncherBenchTest.
 */
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
    void runsTaggedWithTheirOwnConcurrencyMakeOneCurvePerConfiguration() {
        List<ObjectNode> lines = new java.util.ArrayList<>();
        for (int c : List.of(4, 1, 16)) {
            for (String config : List.of("kiln v2-lite bf16 c" + c, "sglang (c=" + c + ")")) {
                ObjectNode l = ResultJson.MAPPER.createObjectNode();
                l.put("max_concurrency", c);
                l.put("tag", config);
                l.put("median_itl_ms", c);
                lines.add(l);
            }
        }
        ObjectNode other = ResultJson.MAPPER.createObjectNode();
        other.put("max_concurrency", 2);
        other.put("tag", "kiln v2-lite bf16 c16"); // a mark that is not the run's concurrency stays in the name
        lines.add(other);
        Map<String, List<SweepReport.Point>> points = SweepReport.points(lines);
        assertEquals(List.of("kiln v2-lite bf16", "sglang", "kiln v2-lite bf16 c16"), List.copyOf(points.keySet()));
        assertEquals(List.of(1, 4, 16), points.get("kiln v2-lite bf16").stream().map(SweepReport.Point::concurrency).toList());
        assertEquals(List.of(1, 4, 16), points.get("sglang").stream().map(SweepReport.Point::concurrency).toList());
        assertEquals("bf16", SweepReport.configuration("bf16", 16));
        assertEquals("tp2 xc16", SweepReport.configuration("tp2 xc16", 16));
    }

    @Test
    void reportOfNoConcurrencyRunsIsAClearError() {
        ObjectNode l = ResultJson.MAPPER.createObjectNode();
        l.putNull("max_concurrency");
        BenchException e = assertThrows(BenchException.class, () -> SweepReport.write(List.of(l), dir.resolve("x.html"), 50));
        assertTrue(e.getMessage().contains("max_concurrency"));
    }

    @Test
    void launcherComesFromKilnHome() throws Exception {
        String key = KilnProperty.HOME.key(), before = System.getProperty(key);
        try {
            System.setProperty(key, dir.toString());
            BenchException e = assertThrows(BenchException.class, ServerProcess::launcher);
            assertTrue(e.getMessage().contains(dir.resolve("kiln").toString()), e.getMessage());
        } finally {
            if (before == null) System.clearProperty(key);
            else System.setProperty(key, before);
        }
        assertEquals(List.of("--a", "1", "--b", "x y", ""), ServerProcess.splitArgs("--a 1 --b 'x y' \"\""));
    }
}
