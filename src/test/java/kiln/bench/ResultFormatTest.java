package kiln.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The result block and the JSONL line, character for character against Python's formatting. */
public class ResultFormatTest {
    /** The keys of sglang.bench_serving's JSONL line, in order (issue 6). */
    public static final List<String> KEYS = List.of("tag", "backend", "dataset_name", "request_rate", "max_concurrency",
            "sharegpt_output_len", "random_input_len", "random_output_len", "random_range_ratio", "server_info",
            "duration", "completed", "total_input_tokens", "total_input_text_tokens", "total_input_vision_tokens",
            "total_output_tokens", "total_output_tokens_retokenized", "request_throughput", "input_throughput",
            "output_throughput", "total_throughput", "mean_e2e_latency_ms", "median_e2e_latency_ms",
            "std_e2e_latency_ms", "p90_e2e_latency_ms", "p99_e2e_latency_ms", "mean_ttft_ms", "median_ttft_ms",
            "std_ttft_ms", "p99_ttft_ms", "mean_tpot_ms", "median_tpot_ms", "std_tpot_ms", "p99_tpot_ms",
            "mean_itl_ms", "median_itl_ms", "std_itl_ms", "p95_itl_ms", "p99_itl_ms", "concurrency", "accept_length",
            "max_output_tokens_per_s", "max_concurrent_requests");
    static final List<String> DETAIL_KEYS = List.of("input_lens", "output_lens", "ttfts", "itls", "generated_texts", "errors");

    @Test
    void blockMatchesPythonCharacterForCharacter() throws IOException {
        String expected;
        try (InputStream in = getClass().getResourceAsStream("result-block.txt")) {
            expected = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        List<String> lines = ResultBlock.lines("sglang", Double.POSITIVE_INFINITY, 8, MetricsTest.DURATION,
                MetricsTest.metrics(), null);
        assertEquals(expected, String.join("\n", lines) + "\n");
    }

    @Test
    void blockSaysNotSetWithoutConcurrencyAndPrintsRatesAsPython() {
        List<String> lines = ResultBlock.lines("vllm", 10.0, null, 1.0, MetricsTest.metrics(), 2.5);
        assertEquals("Traffic request rate:                    10.0      ", lines.get(2));
        assertEquals("Max request concurrency:                 not set   ", lines.get(3));
        assertEquals("Accept length:                           2.50      ", lines.get(17));
    }

    @Test
    void pythonNumberFormatting() {
        assertEquals("0.12", PyFormat.fixed2(0.125));
        assertEquals("1.00", PyFormat.fixed2(1.005));
        assertEquals("2.67", PyFormat.fixed2(2.675));
        assertEquals("1234.50", PyFormat.fixed2(1234.5));
        assertEquals("0.01", PyFormat.fixed2(0.005));
        assertEquals("100.00", PyFormat.fixed2(99.995));
        assertEquals("nan", PyFormat.fixed2(Double.NaN));
        for (String[] c : new String[][]{{"10.0", "10.0"}, {"0.1", "0.1"}, {"1e+16", "1e16"}, {"1.5e-05", "1.5e-05"},
                {"123456789.0", "123456789.0"}, {"0.0001", "1e-4"}, {"1e+22", "1e22"},
                {"1.2345678901234568e+16", "12345678901234567.0"}, {"0.00012", "0.00012"}, {"inf", "Infinity"}})
            assertEquals(c[0], PyFormat.repr(Double.parseDouble(c[1])), c[1]);
    }

    @Test
    void jsonlKeysInSglangOrderAndPythonSeparators(@TempDir Path dir) {
        BenchOptions o = BenchOptions.defaults().withMaxConcurrency(8).withRun(4, "my tag", dir.resolve("out.jsonl").toString());
        ObjectNode line = ResultJson.line(o, ResultJson.MAPPER.createObjectNode().put("version", "x"), 2.5,
                MetricsTest.metrics(), null, MetricsTest.OUTPUTS);
        assertEquals(KEYS, names(line));
        String json = ResultJson.toPythonJson(line);
        assertEquals("{\"tag\": \"my tag\", \"backend\": \"sglang\", \"dataset_name\": \"sharegpt\", \"request_rate\": Infinity, "
                + "\"max_concurrency\": 8, \"sharegpt_output_len\": null, \"random_input_len\": 1024, \"random_output_len\": 1024, "
                + "\"random_range_ratio\": 0.0, \"server_info\": {\"version\": \"x\"}, \"duration\": 2.5, \"completed\": 3, ",
                json.substring(0, json.indexOf("\"total_input_tokens\"")));
        ResultJson.append(Path.of(o.outputFile()), line);
        ResultJson.append(Path.of(o.outputFile()), line);
        List<ObjectNode> back = ResultJson.readLines(Path.of(o.outputFile()));
        assertEquals(2, back.size());
        assertEquals(Double.POSITIVE_INFINITY, back.get(1).get("request_rate").asDouble());
        assertEquals(14.0, back.get(0).get("max_output_tokens_per_s").asDouble());
    }

    @Test
    void pythonJsonEscapesLikeJsonDumps() {
        ObjectNode n = ResultJson.MAPPER.createObjectNode();
        n.putNull("tag");
        n.put("request_rate", Double.POSITIVE_INFINITY);
        n.putArray("x").add(1).add(2.5);
        n.put("t", "h\u00e9llo");
        n.put("n", Double.NaN);
        // python3 -c 'import json; print(json.dumps({"tag": None, "request_rate": float("inf"), "x": [1, 2.5], "t": "h\u00e9llo", "n": float("nan")}))'
        assertEquals("{\"tag\": null, \"request_rate\": Infinity, \"x\": [1, 2.5], \"t\": \"h\\u00e9llo\", \"n\": NaN}",
                ResultJson.toPythonJson(n));
    }

    @Test
    void detailsFollowTheSummary(@TempDir Path dir) {
        BenchOptions o = new BenchOptions(BackendKind.SGLANG, null, "0.0.0.0", null, null, null, "random", "", 4, null,
                null, 16, 16, 1.0, 4.0, null, 1, dir.resolve("d.jsonl").toString(), true, false, false, null, 1,
                false, false, false, 64, 16, 2048, 128, 256, 1.0, 60, false, null, List.of(), 300);
        ObjectNode line = ResultJson.line(o, null, 2.5, MetricsTest.metrics(), null, MetricsTest.OUTPUTS);
        List<String> expected = new ArrayList<>(KEYS);
        expected.addAll(DETAIL_KEYS);
        assertEquals(expected, names(line));
        assertEquals("[100,200,300,400]", line.get("input_lens").toString());
        assertEquals("[4,3,0,11]", line.get("output_lens").toString());
        assertEquals("boom", line.get("errors").get(2).asText());
        assertEquals(3, line.get("itls").get(0).size());
    }

    @Test
    void defaultOutputFileNamesAreSglangs() {
        var day = java.time.LocalDate.of(2026, 3, 7);
        assertEquals("sglang_0307_1000_sharegpt.jsonl", BenchOptions.defaults().resolvedOutputFile(day));
        BenchOptions r = new BenchOptions(BackendKind.VLLM, null, "0.0.0.0", null, null, null, "random", "", 500, null,
                null, 3200, 800, 1.0, Double.POSITIVE_INFINITY, null, 1, null, false, false, false, null, 1, false,
                false, false, 64, 16, 2048, 128, 256, 1.0, 60, false, null, List.of(), 300);
        assertEquals("vllm_0307_500_3200_800.jsonl", r.resolvedOutputFile(day));
        assertEquals("http://0.0.0.0:8000", r.resolvedBaseUrl());
    }

    private static List<String> names(ObjectNode n) {
        List<String> out = new ArrayList<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }
}
