package kiln.bench;

import com.fasterxml.jackson.databind.JsonNode;
import kiln.tokenizer.Tokenizer;
import kiln.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Whole runs against a stub server on a real port: payloads, stream parsing, counts, failures, timeouts. */
@Timeout(60)
class BenchmarkTest {
    /** The tokenizer of the default model: it decodes the random-ids prompts and retokenizes the stub's answers. */
    static final Tokenizer TOKENIZER = Tokenizers.bundled();

    @TempDir
    Path dir;
    private final ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();

    BenchOptions options(BackendKind backend, String baseUrl, int prompts, int in, int outLen, boolean ids,
                         Integer concurrency, String extra, List<String> headers, boolean details) {
        return new BenchOptions(backend, baseUrl, "127.0.0.1", null, null, null, "random-ids", "", prompts, null, null,
                in, outLen, 1.0, Double.POSITIVE_INFINITY, concurrency, 1, dir.resolve("out.jsonl").toString(), details,
                false, false, extra, 1, false, ids, false, 4, 3, 40, 8, 5, 1.0, 5, true, null, headers, 30);
    }

    Benchmark.Result run(BenchOptions o) {
        return new Benchmark(o, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8))
                .withTokenizer(TOKENIZER).run();
    }

    @Test
    void nativeBackendSendsIdsAndCountsServerTokens() throws Exception {
        try (StubServer stub = new StubServer(StubServer.Config.fast())) {
            Benchmark.Result r = run(options(BackendKind.SGLANG, stub.baseUrl(), 8, 16, 40, true, null, null, List.of(), false));
            Metrics m = r.metrics();
            assertEquals(8, m.completed());
            assertEquals(8 * 16, m.totalInput());
            assertEquals(8 * 40, m.totalOutput());
            // the stub streams "tok " per token; the tokenizer counts the whole answer its own way
            assertEquals(8 * TOKENIZER.encode("tok ".repeat(40), false).length, m.totalOutputRetokenized());
            assertTrue(m.totalOutputRetokenized() > 8 * 40);
            JsonNode warmup = stub.bodies.poll();
            assertEquals(32, warmup.path("sampling_params").path("max_new_tokens").asInt()); // min(40, 32)
            JsonNode first = stub.bodies.poll();
            assertEquals(16, first.get("input_ids").size());
            assertEquals(40, first.path("sampling_params").path("max_new_tokens").asInt());
            assertTrue(first.path("sampling_params").path("ignore_eos").asBoolean());
            assertEquals(0.0, first.path("sampling_params").path("temperature").asDouble());
            assertTrue(first.path("stream").asBoolean());
            for (RequestOutput o : r.outputs()) assertEquals(39, o.itl().length); // one ITL per token after the first
            String stdout = out.toString(StandardCharsets.UTF_8);
            assertTrue(stdout.contains("\n============ Serving Benchmark Result ============\n"), stdout);
            assertTrue(stdout.contains("Successful requests:                     8         \n"), stdout);
            assertTrue(stdout.contains("Total generated tokens:                  320       \n"), stdout);
            List<com.fasterxml.jackson.databind.node.ObjectNode> lines = ResultJson.readLines(dir.resolve("out.jsonl"));
            assertEquals(1, lines.size());
            assertEquals(ResultFormatTest.KEYS, names(lines.getFirst()));
            assertTrue(lines.getFirst().path("server_info").path("stub").asBoolean());
        }
    }

    @Test
    void nativeChunksOfSeveralTokensSplitTheirGapEvenly() throws Exception {
        try (StubServer stub = new StubServer(new StubServer.Config(0, 3, 3, 0, 0, false))) {
            Benchmark.Result r = run(options(BackendKind.SGLANG_NATIVE, stub.baseUrl(), 2, 8, 10, true, null, null, List.of(), false));
            for (RequestOutput o : r.outputs()) {
                assertEquals(10, o.outputLen());
                // chunks of 3, 3, 3, 1 tokens: the first sets TTFT, the others give 3 + 3 + 1 equal ITL entries
                double[] itl = o.itl();
                assertEquals(7, itl.length);
                assertEquals(itl[0], itl[1]);
                assertEquals(itl[1], itl[2]);
                assertEquals(itl[3], itl[5]);
                // three later chunks each sent 3 ms after the one before, 9 ms in all; a client that reads the first
                // chunk late sees the rest closer together (a clean-clone run read 5.8 ms), so only a third is required
                assertTrue(Stats.sum(itl) >= 0.003, "3 ms between chunks: " + Stats.sum(itl));
            }
        }
    }

    @Test
    void completionsTimingHasTheStubsDelaysAsLowerBounds() throws Exception {
        try (StubServer stub = new StubServer(new StubServer.Config(30, 2, 1, 0, 0, false))) {
            Benchmark.Result r = run(options(BackendKind.VLLM, stub.baseUrl(), 4, 12, 20, false, 2,
                    "{\"temperature\": 0.7, \"top_p\": 0.9}", List.of("X-Test=yes"), true));
            Metrics m = r.metrics();
            assertEquals(4, m.completed());
            assertEquals(80, m.totalOutput()); // from usage.completion_tokens
            assertTrue(m.medianTtftMs() >= 30, "TTFT includes the 30 ms first-token wait: " + m.medianTtftMs());
            assertTrue(m.meanItlMs() >= 1.5, "2 ms between tokens: " + m.meanItlMs());
            assertTrue(stub.maxInFlight.get() <= 2, "max concurrency 2, saw " + stub.maxInFlight.get());
            JsonNode body = stub.bodies.peek();
            assertEquals("stub-model", body.path("model").asText()); // from GET /v1/models
            assertEquals(0.7, body.path("temperature").asDouble()); // --extra-request-body wins
            assertEquals(0.9, body.path("top_p").asDouble());
            assertEquals(1, body.path("best_of").asInt());
            assertTrue(body.path("ignore_eos").asBoolean());
            assertTrue(body.path("prompt").isTextual());
            assertEquals(5, stub.headerValues.size());
            assertTrue(stub.headerValues.stream().allMatch("yes"::equals));
            assertEquals(4, r.line().get("itls").size());
        }
    }

    @Test
    void chatCountsReasoningContentAsOutput() throws Exception {
        try (StubServer stub = new StubServer(new StubServer.Config(0, 0, 1, 0, 0, true))) {
            Benchmark.Result r = run(options(BackendKind.OPENAI_CHAT, stub.baseUrl(), 3, 10, 12, false, null, null, List.of(), false));
            assertEquals(3, r.metrics().completed());
            assertEquals(36, r.metrics().totalOutput());
            for (RequestOutput o : r.outputs()) {
                assertEquals("tok ".repeat(12), o.generatedText()); // 6 reasoning tokens, then 6 answer tokens
                assertEquals(11, o.itl().length);
            }
            JsonNode body = stub.bodies.peek();
            assertEquals("user", body.path("messages").path(0).path("role").asText());
            assertEquals(12, body.path("max_completion_tokens").asInt());
        }
    }

    @Test
    void nonStreamingTtftIsTheLatency() throws Exception {
        try (StubServer stub = new StubServer(StubServer.Config.fast())) {
            BenchOptions o = options(BackendKind.SGLANG_OAI_CHAT, stub.baseUrl(), 2, 8, 6, false, null, null, List.of(), false);
            o = new BenchOptions(o.backend(), o.baseUrl(), o.host(), o.port(), o.model(), o.tokenizer(), o.datasetName(),
                    o.datasetPath(), o.numPrompts(), null, null, 8, 6, 1.0, o.requestRate(), null, 1, o.outputFile(), false,
                    true, true, null, 0, true, false, false, 4, 3, 40, 8, 5, 1.0, 5, true, "t", List.of(), 30);
            Benchmark.Result r = run(o);
            for (RequestOutput x : r.outputs()) {
                assertTrue(x.success());
                assertEquals(x.latency(), x.ttft());
                assertEquals(0, x.itl().length);
                assertEquals(6, x.outputLen());
            }
            assertFalse(stub.bodies.peek().path("stream").asBoolean());
            assertFalse(stub.bodies.peek().path("ignore_eos").asBoolean()); // --disable-ignore-eos
            assertEquals(1, stub.flushes.get()); // --flush-cache
            assertEquals("t", r.line().get("tag").asText());
        }
    }

    @Test
    void serverErrorsAreCountedAndShown() throws Exception {
        try (StubServer stub = new StubServer(new StubServer.Config(0, 0, 1, 3, 0, false))) {
            // request 3 of the run fails (the warmup is request 1), and every third after it
            Benchmark.Result r = run(options(BackendKind.SGLANG, stub.baseUrl(), 9, 4, 4, true, 1, null, List.of(), true));
            assertEquals(6, r.metrics().completed());
            assertEquals(6 * 4, r.metrics().totalOutput());
            long failed = r.outputs().stream().filter(o -> !o.success()).count();
            assertEquals(3, failed);
            assertTrue(r.outputs().stream().filter(o -> !o.success()).allMatch(o -> o.error().startsWith("HTTP 500")));
            String warn = err.toString(StandardCharsets.UTF_8);
            assertTrue(warn.contains("WARNING 3 of 9 requests failed"), warn);
            assertTrue(warn.contains("3 x HTTP 500: {\"error\": \"stub failure\"}"), warn);
        }
    }

    @Test
    void connectionRefusedFailsEveryRequestQuicklyWithAClearMessage() throws Exception {
        String url = "http://127.0.0.1:" + freePort();
        BenchOptions o = options(BackendKind.SGLANG, url, 5, 4, 4, true, null, null, List.of(), false);
        BenchOptions noReady = new BenchOptions(o.backend(), url, o.host(), null, "m", null, "random-ids", "", 5, null, null,
                4, 4, 1.0, o.requestRate(), null, 1, o.outputFile(), false, false, false, null, 0, false, true, false,
                4, 3, 40, 8, 5, 1.0, 0, true, null, List.of(), 30);
        Benchmark.Result r = run(noReady);
        assertEquals(0, r.metrics().completed());
        assertTrue(r.outputs().stream().allMatch(x -> x.error().contains("connection refused")));
        String warn = err.toString(StandardCharsets.UTF_8);
        assertTrue(warn.contains("WARNING 5 of 5 requests failed (all of them"), warn);
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("Mean E2E Latency (ms):                   nan       "));
        assertNull(r.line().get("server_info").isNull() ? null : r.line().get("server_info"));

        // with the default warmup request, the run stops before the main phase with SGLang's message
        BenchOptions warm = noReady.withRun(5, null, o.outputFile());
        BenchOptions withWarmup = new BenchOptions(warm.backend(), url, warm.host(), null, "m", null, "random-ids", "", 5,
                null, null, 4, 4, 1.0, warm.requestRate(), null, 1, warm.outputFile(), false, false, false, null, 1, false,
                true, false, 4, 3, 40, 8, 5, 1.0, 0, true, null, List.of(), 30);
        BenchException e = assertThrows(BenchException.class, () -> run(withWarmup));
        assertTrue(e.getMessage().startsWith("Warmup failed - Please make sure benchmark arguments are correctly specified."), e.getMessage());
        assertTrue(e.getMessage().contains("connection refused"), e.getMessage());
    }

    @Test
    void readyCheckGivesUpAfterItsTimeout() throws Exception {
        String url = "http://127.0.0.1:" + freePort();
        BenchOptions o = new BenchOptions(BackendKind.SGLANG, url, "127.0.0.1", null, null, null, "random-ids", "", 5,
                null, null, 4, 4, 1.0, Double.POSITIVE_INFINITY, null, 1, dir.resolve("x.jsonl").toString(), false, false,
                false, null, 1, false, true, false, 4, 3, 40, 8, 5, 1.0, 1, true, null, List.of(), 30);
        long t0 = System.nanoTime();
        BenchException e = assertThrows(BenchException.class, () -> run(o));
        assertTrue(e.getMessage().contains("is not ready after 1 s (--ready-check-timeout-sec); last attempt: connection refused"), e.getMessage());
        assertTrue((System.nanoTime() - t0) / 1e9 < 10, "gave up promptly");
    }

    @Test
    void aServerThatStallsMidStreamTimesOut() throws Exception {
        try (StubServer stub = new StubServer(new StubServer.Config(0, 0, 1, 0, 3, false))) {
            BenchOptions o = options(BackendKind.SGLANG, stub.baseUrl(), 2, 4, 8, true, null, null, List.of(), false);
            BenchOptions quick = new BenchOptions(o.backend(), o.baseUrl(), o.host(), null, null, null, "random-ids", "", 2,
                    null, null, 4, 8, 1.0, o.requestRate(), null, 1, o.outputFile(), false, false, false, null, 0, false,
                    true, false, 4, 3, 40, 8, 5, 1.0, 5, true, null, List.of(), 1.5);
            Benchmark.Result r = run(quick);
            assertEquals(0, r.metrics().completed());
            assertTrue(r.outputs().stream().allMatch(x -> x.error().equals("no data from the server for 1 s (--idle-timeout-sec)")),
                    r.outputs().toString());
        }
    }

    @Test
    void poissonArrivalsStillSendEveryRequest() throws Exception {
        try (StubServer stub = new StubServer(StubServer.Config.fast())) {
            BenchOptions o = options(BackendKind.SGLANG, stub.baseUrl(), 20, 4, 4, true, null, null, List.of(), false);
            BenchOptions rated = new BenchOptions(o.backend(), o.baseUrl(), o.host(), null, null, null, "random-ids", "", 20,
                    null, null, 4, 4, 1.0, 200.0, null, 1, o.outputFile(), false, false, false, null, 1, false, true, false,
                    4, 3, 40, 8, 5, 1.0, 5, true, null, List.of(), 30);
            Benchmark.Result r = run(rated);
            assertEquals(20, r.metrics().completed());
            assertTrue(out.toString(StandardCharsets.UTF_8).contains("Traffic request rate:                    200.0     \n"));
        }
    }

    static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static List<String> names(JsonNode n) {
        List<String> out = new java.util.ArrayList<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }
}
