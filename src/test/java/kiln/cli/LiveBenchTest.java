package kiln.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import kiln.bench.BenchOptions;
import kiln.bench.Benchmark;
import kiln.bench.DatasetRow;
import kiln.bench.Datasets;
import kiln.bench.Prompt;
import kiln.bench.RequestOutput;
import kiln.bench.ResultFormatTest;
import kiln.bench.ResultJson;
import kiln.model.DefaultModel;
import kiln.server.KilnServer;
import kiln.tokenizer.Tokenizer;
import kiln.tokenizer.Tokenizers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code kiln bench} command lines against a real {@code kiln serve} of the default model (in this JVM, on an
 * ephemeral port): the counts of the result block, its exact layout against the block Python printed, the JSONL
 * line, and what the server itself counted (its Prometheus counters): prompt tokens, generated tokens, and the
 * prefix-cache hits of generated-shared-prefix with and without --flush-cache.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(120)
class LiveBenchTest {
    private static final String SHAREGPT = Path.of("testdata", "bench", "sharegpt-mini.json").toString();
    private static final int KV_TOKENS = 8192;

    @TempDir
    Path dir;
    private KilnServer server;
    private final Tokenizer tok = Tokenizers.bundled();

    @BeforeAll
    void start() {
        server = ServeCommand.launch("--port", "0", "--max-total-tokens", Integer.toString(KV_TOKENS), "--enable-metrics",
                "--skip-server-warmup", "--log-level", "warning");
    }

    @AfterAll
    void stop() {
        server.close();
    }

    /** One `kiln bench ARGS` run (parsed as the command line parses it), with what it printed and wrote. */
    record Run(BenchOptions options, Benchmark.Result result, String out, String err, List<String> block, String jsonl) {
        ObjectNode line() {
            return result.line();
        }
    }

    private Run bench(String... args) throws IOException {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("--base-url", server.url(), "--output-file", dir.resolve("runs.jsonl").toString(), "--disable-tqdm"));
        return run(all.toArray(String[]::new));
    }

    /** `kiln bench ARGS` as given: the server, output file and all. */
    private static Run run(String... args) throws IOException {
        List<String> all = List.of(args);
        CommandLine cl = new CommandLine(new BenchCommand());
        cl.parseArgs(ArgparsePrefixes.expand(cl.getCommandSpec(), all).toArray(String[]::new));
        BenchCommand c = cl.getCommand();
        BenchOptions o = c.flags.toOptions(c.maxConcurrency);
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        Benchmark.Result r = new Benchmark(o, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8)).run();
        String stdout = out.toString(StandardCharsets.UTF_8);
        List<String> lines = stdout.lines().toList();
        int start = lines.indexOf("============ Serving Benchmark Result ============");
        assertTrue(start > 0 && lines.get(start - 1).isEmpty(), "an empty line, then the block:\n" + stdout);
        int end = start + 1;
        while (end < lines.size() && !lines.get(end).equals("=".repeat(50))) end++;
        List<String> written = Files.readAllLines(Path.of(o.outputFile()), StandardCharsets.UTF_8);
        return new Run(o, r, stdout, err.toString(StandardCharsets.UTF_8), lines.subList(start, end + 1), written.getLast());
    }

    /** The block as sglang.bench_serving printed it for synthetic timings (kiln.bench.ResultFormatTest's reference). */
    private static List<String> referenceBlock() throws IOException {
        try (InputStream in = LiveBenchTest.class.getResourceAsStream("/kiln/bench/result-block.txt")) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().toList();
        }
    }

    /**
     * Same lines in the same order as Python's block: rules and titles equal, each label in the same 41 columns,
     * each value left-aligned in at least 10, two decimals where Python printed two, and the given values.
     */
    private static void assertBlock(List<String> block, Map<String, String> values) throws IOException {
        List<String> ref = referenceBlock();
        assertEquals(ref.size(), block.size(), String.join("\n", block));
        Map<String, String> seen = new HashMap<>();
        for (int i = 0; i < ref.size(); i++) {
            String want = ref.get(i), got = block.get(i);
            if (want.startsWith("=") || want.startsWith("-")) {
                assertEquals(want, got);
                continue;
            }
            String label = want.substring(0, 41);
            assertEquals(label, got.substring(0, 41), "line " + i);
            String value = got.substring(41);
            assertTrue(value.length() >= 10 && (value.length() == 10 || !value.endsWith(" ")), "value column: '" + value + "'");
            String refValue = want.substring(41).strip(), v = value.strip();
            if (refValue.matches("\\d+\\.\\d\\d")) assertTrue(v.matches("\\d+\\.\\d\\d"), label + v);
            else if (refValue.matches("\\d+") && !label.startsWith("Max request concurrency")) assertTrue(v.matches("\\d+"), label + v);
            seen.put(label.strip(), v);
        }
        for (var e : values.entrySet()) assertEquals(e.getValue(), seen.get(e.getKey()), e.getKey());
    }

    private static List<String> keys(JsonNode n) {
        List<String> out = new ArrayList<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }

    /** A counter of the server's /metrics, once it has reached {@code expected} (the engine publishes its stats
     *  asynchronously) or after 5 s, whatever it is then. */
    private double counter(String name, double expected) throws Exception {
        long deadline = System.nanoTime() + 5_000_000_000L;
        double v;
        while ((v = counter(name)) != expected && System.nanoTime() < deadline) Thread.sleep(20);
        return v;
    }

    private double counter(String name) throws Exception {
        try (var http = java.net.http.HttpClient.newHttpClient()) {
            String text = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(server.url() + "/metrics")).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString()).body();
            for (String l : text.lines().toList())
                if (l.startsWith(name + "{")) return Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1));
        }
        throw new AssertionError(name + " is not in /metrics");
    }

    private void flushCache() throws Exception {
        try (var http = java.net.http.HttpClient.newHttpClient()) {
            var r = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(server.url() + "/flush_cache"))
                    .POST(java.net.http.HttpRequest.BodyPublishers.noBody()).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"sglang, ''", "sglang, --tokenize-prompt", "sglang-oai, ''", "sglang-oai-chat, ''"})
    void eachApiFamilyCountsWhatTheServerCounted(String backend, String extra) throws Exception {
        int n = 24, m = 4, p = 4;
        double prompts0 = counter("kiln_prompt_tokens_total"), generated0 = counter("kiln_generation_tokens_total");
        List<String> args = new ArrayList<>(List.of("--backend", backend, "--dataset-name", "random", "--dataset-path", SHAREGPT,
                "--random-input", Integer.toString(n), "--random-output", Integer.toString(m), "--random-range-ratio", "1",
                "--num-prompts", Integer.toString(p)));
        if (!extra.isEmpty()) args.add(extra);
        Run run = bench(args.toArray(String[]::new));

        assertBlock(run.block(), Map.of("Backend:", backend, "Traffic request rate:", "inf", "Max request concurrency:", "not set",
                "Successful requests:", Integer.toString(p), "Total input tokens:", Integer.toString(p * n),
                "Total input text tokens:", Integer.toString(p * n), "Total generated tokens:", Integer.toString(p * m)));
        assertTrue(run.out().contains("Using the DeepSeek-V3/R1 tokenizer bundled with Kiln"), run.out());
        assertEquals("", run.err(), "no warnings");

        // the line on disk: SGLang's keys in SGLang's order, Python's separators, the server's own info
        assertTrue(run.jsonl().startsWith("{\"tag\": null, \"backend\": \"" + backend + "\", \"dataset_name\": \"random\", "
                + "\"request_rate\": Infinity, \"max_concurrency\": null, \"sharegpt_output_len\": null, \"random_input_len\": "
                + n + ", \"random_output_len\": " + m + ", \"random_range_ratio\": 1.0, \"server_info\": {"), run.jsonl());
        ObjectNode line = (ObjectNode) ResultJson.MAPPER.readTree(run.jsonl());
        assertEquals(ResultFormatTest.KEYS, keys(line));
        assertEquals(p, line.get("completed").asInt());
        assertEquals(p * n, line.get("total_input_tokens").asInt());
        assertEquals(p * m, line.get("total_output_tokens").asInt());
        JsonNode info = line.get("server_info");
        assertEquals(KilnServer.VERSION, info.get("version").asText());
        assertEquals(DefaultModel.NAME, info.get("model_path").asText());
        assertEquals(KV_TOKENS, info.get("max_total_num_tokens").asInt());
        assertEquals(KV_TOKENS, info.get("max_total_tokens").asInt());
        assertTrue(info.get("backend").asText().startsWith("cpu"), info.toString());
        assertEquals(0, info.path("internal_states").path(0).get("num_running_reqs").asInt());

        // the server's counters: every prompt (and the warmup's, request 0's prompt) of exactly the drawn length, as
        // text or as ids; chat adds the template around it
        int warmupTokens = Math.min(m, 32);
        assertEquals(p * m + warmupTokens, counter("kiln_generation_tokens_total", generated0 + p * m + warmupTokens) - generated0);
        double prompts = counter("kiln_prompt_tokens_total") - prompts0; // admitted before any token was generated
        if (backend.endsWith("chat")) assertTrue(prompts > (p + 1) * n, "template tokens: " + prompts);
        else assertEquals((p + 1) * n, prompts, "prompt tokens the server admitted");
        assertTrue(line.get("total_output_tokens_retokenized").asInt() > 0);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "sglang|{\"sampling_params\": {\"max_new_tokens\": 2, \"temperature\": 0, \"ignore_eos\": true}}",
            "sglang-oai|{\"max_tokens\": 2}",
            "sglang-oai-chat|{\"max_completion_tokens\": 2}"})
    void generatedTokensAreTheServersCountWhenItStopsEarly(String backend, String cap) throws Exception {
        // 6 tokens asked for, the body capped at 2: the count must come from the server (meta_info, usage)
        Run run = bench("--backend", backend, "--dataset-name", "random", "--dataset-path", SHAREGPT, "--random-input", "8",
                "--random-output", "6", "--random-range-ratio", "1", "--num-prompts", "3", "--extra-request-body", cap);
        assertEquals(3, run.result().metrics().completed());
        assertEquals(3 * 2, run.result().metrics().totalOutput(), run.out());
        for (RequestOutput o : run.result().outputs()) {
            assertEquals(2, o.outputLen());
            assertEquals(1, o.itl().length, "one gap after the first token");
        }
    }

    @Test
    void sharedPrefixesAreReusedAndFlushCacheEmptiesTheCache() throws Exception {
        String[] args = {"--dataset-name", "generated-shared-prefix", "--gsp-num-groups", "3", "--gsp-prompts-per-group", "3",
                "--gsp-system-prompt-len", "40", "--gsp-question-len", "6", "--gsp-output-len", "3", "--max-concurrency", "1"};
        flushCache(); // nothing of the earlier tests stays cached: the expectations below are exact
        double cached0 = counter("kiln_cached_prompt_tokens_total");
        List<String> withFlush = new ArrayList<>(List.of(args));
        withFlush.add("--flush-cache");
        Run first = bench(withFlush.toArray(String[]::new));
        assertEquals(9, first.result().metrics().completed());

        // the prompts as the server tokenized them (text with BOS), in dataset order; request 0 was also the warmup
        List<DatasetRow> rows = Datasets.build(first.options(), tok, new PrintStream(PrintStream.nullOutputStream()),
                new PrintStream(PrintStream.nullOutputStream()));
        List<int[]> ids = rows.stream().map(r -> tok.encode(((Prompt.Text) r.prompt()).text(), true)).toList();
        for (int i = 0; i < ids.size(); i++) assertEquals(ids.get(i).length, first.result().outputs().get(i).promptLen());
        // one request at a time, so each finds the longest prefix it shares with any earlier one (at most all but
        // its last token). Within a group every pair shares the same prefix, across groups only BOS, so the sum
        // does not depend on the order the requests reached the server in.
        long expected = 0;
        for (int i = 0; i < ids.size(); i++) {
            int best = 0;
            for (int j = 0; j < i; j++) best = Math.max(best, Math.min(common(ids.get(i), ids.get(j)), ids.get(i).length - 1));
            expected += best;
        }
        int[] groupShare = sharedWithinGroups(ids);
        assertTrue(groupShare[0] == groupShare[1] && groupShare[0] >= 40, "pairs of a group share " + groupShare[0] + ".." + groupShare[1]);
        // after the warmup cached request 0, --flush-cache emptied the cache again: the run found only shared prefixes
        assertEquals(expected, counter("kiln_cached_prompt_tokens_total", cached0 + expected) - cached0,
                "cached prompt tokens with --flush-cache");
        assertTrue(expected >= 3 * 2 * 40, "each group's later two requests reuse its system prompt: " + expected);

        // the same prompts again, no flush: every request (and the warmup) finds all but its last token cached
        double cached1 = counter("kiln_cached_prompt_tokens_total");
        bench(args);
        long all = ids.getFirst().length - 1;
        for (int[] x : ids) all += x.length - 1;
        assertEquals(all, counter("kiln_cached_prompt_tokens_total", cached1 + all) - cached1, "cached prompt tokens without a flush");
    }

    @Test
    void applyChatTemplateSendsRenderedPromptsOfTheirCountedLength() throws Exception {
        double prompts0 = counter("kiln_prompt_tokens_total");
        Run run = bench("--dataset-name", "sharegpt", "--dataset-path", SHAREGPT, "--apply-chat-template",
                "--sharegpt-output-len", "4", "--num-prompts", "3");
        List<RequestOutput> outs = run.result().outputs();
        assertEquals(3, run.result().metrics().completed());
        assertEquals(12, run.result().metrics().totalOutput());
        long counted = outs.getFirst().promptLen(); // the warmup sends request 0's prompt
        for (RequestOutput o : outs) counted += o.promptLen();
        // /generate encodes the rendered text with BOS, which the dataset removed from the rendering and counted
        assertEquals(counted, counter("kiln_prompt_tokens_total", prompts0 + counted) - prompts0);
        assertTrue(run.out().contains("Total input tokens:                      " + (counted - outs.getFirst().promptLen())), run.out());
    }

    /** Only --port, as most bench_serving command lines give it: the default host 0.0.0.0 reaches a loopback server. */
    @Test
    void theDefaultHostReachesALoopbackServer() throws IOException {
        Run r = run("--port", Integer.toString(server.port()), "--dataset-name", "random-ids", "--random-input", "8", "--random-output", "3",
                "--random-range-ratio", "1", "--num-prompts", "2", "--disable-tqdm", "--output-file", dir.resolve("default-host.jsonl").toString());
        assertEquals(2, r.line().get("completed").asInt(), r.out());
    }

    @Test
    void aServerWithoutTokenizerBehindAnApiKey() throws Exception {
        // token ids in, token ids out (no text in the stream), and every route but /health behind the key
        try (KilnServer keyed = ServeCommand.launch("--skip-tokenizer-init", "--api-key", "sk-bench", "--port", "0",
                "--max-total-tokens", "4096", "--skip-server-warmup", "--log-level", "warning")) {
            String[] args = {"--base-url", keyed.url(), "--dataset-name", "random-ids", "--tokenize-prompt", "--random-input", "12",
                    "--random-output", "5", "--random-range-ratio", "1", "--num-prompts", "3", "--disable-tqdm",
                    "--output-file", dir.resolve("keyed.jsonl").toString()};
            // without the key: a clear error at once, not a minute of waiting for a 401 to change
            long t0 = System.nanoTime();
            var e = org.junit.jupiter.api.Assertions.assertThrows(kiln.bench.BenchException.class, () -> run(args));
            assertEquals(keyed.url() + "/v1/models answered HTTP 401 (the server wants an API key: set OPENAI_API_KEY, sent as "
                    + "'Authorization: Bearer KEY', or give --header Authorization='Bearer KEY')", e.getMessage());
            assertTrue((System.nanoTime() - t0) / 1e9 < 10);

            List<String> withKey = new ArrayList<>(List.of(args));
            withKey.addAll(List.of("--header", "Authorization=Bearer sk-bench"));
            Run r = run(withKey.toArray(String[]::new));
            assertEquals(3, r.result().metrics().completed());
            assertEquals(3 * 12, r.result().metrics().totalInput());
            assertEquals(3 * 5, r.result().metrics().totalOutput());
            for (RequestOutput o : r.result().outputs()) {
                assertEquals("", o.generatedText());
                assertTrue(o.ttft() > 0 && o.ttft() < o.latency(), "TTFT from the first output_ids: " + o.ttft());
                assertEquals(4, o.itl().length, "one gap per later token");
            }
            assertEquals(0, r.result().metrics().totalOutputRetokenized());
        }
    }

    private static int common(int[] a, int[] b) {
        int n = 0;
        while (n < a.length && n < b.length && a[n] == b[n]) n++;
        return n;
    }

    /** The smallest and largest prefix two prompts share, over the pairs that share more than BOS. */
    private static int[] sharedWithinGroups(List<int[]> ids) {
        int min = Integer.MAX_VALUE, max = 0;
        for (int i = 0; i < ids.size(); i++)
            for (int j = 0; j < i; j++) {
                int c = common(ids.get(i), ids.get(j));
                if (c <= 1) continue;
                min = Math.min(min, c);
                max = Math.max(max, c);
            }
        return new int[] {min, max};
    }
}
