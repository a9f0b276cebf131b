package kiln.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import kiln.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * One {@code kiln bench} run, step for step as sglang.bench_serving: ready check, model name, tokenizer, dataset,
 * warmup (short requests under the same concurrency limit), optional cache flush, a one-second pause, then every
 * request at once ({@code --request-rate inf}) or at Poisson arrivals, each on its own virtual thread behind the
 * {@code --max-concurrency} semaphore; then the result block on {@code out} and one JSONL line appended to the
 * output file. Informational lines go to {@code out} as in SGLang, the progress bar and warnings to {@code err}.
 */
public final class Benchmark {
    /** What a run produced: its JSONL line, metrics, and the tokenizer it used (a sweep reuses it). */
    public record Result(ObjectNode line, Metrics metrics, double durationS, List<RequestOutput> outputs,
                         Tokenizer tokenizer) {}

    private final BenchOptions o;
    private final PrintStream out;
    private final PrintStream err;
    private Tokenizer tokenizer;

    public Benchmark(BenchOptions options, PrintStream out, PrintStream err) {
        this.o = options;
        this.out = out;
        this.err = err;
    }

    /** Uses {@code t} instead of resolving a tokenizer ({@link TokenizerResolver}). */
    public Benchmark withTokenizer(Tokenizer t) {
        this.tokenizer = t;
        return this;
    }

    public Result run() {
        o.validate();
        Map<String, String> headers = headers(o.headers());
        ObjectNode extra = extraBody(o.extraRequestBody());
        String baseUrl = o.resolvedBaseUrl();
        ServerApi server = new ServerApi(baseUrl, headers);
        if (o.readyCheckTimeoutSec() > 0) server.awaitReady(o.readyCheckTimeoutSec(), out);
        String model = o.model() != null ? o.model() : server.firstModelId();
        Tokenizer tok = tokenizer != null ? tokenizer : TokenizerResolver.resolve(o, model, server, out);
        List<DatasetRow> rows = Datasets.build(o, tok, out, err);
        try (ApiClient client = new ApiClient(o.backend(), baseUrl, model, headers, extra, !o.disableStream(),
                !o.disableIgnoreEos(), o.idleTimeoutSec())) {
            return measure(rows, client, server, tok);
        }
    }

    private Result measure(List<DatasetRow> rows, ApiClient client, ServerApi server, Tokenizer tok) {
        Semaphore limit = new Semaphore(o.maxConcurrency() != null ? o.maxConcurrency() : Integer.MAX_VALUE, true);
        warmup(rows.getFirst(), client, limit);
        if (o.flushCache() || (o.backend().isSglang() && isTrue(System.getenv("SGLANG_IS_IN_CI")))) server.flushCache(o.backend());
        sleep(1.0);

        ProgressBar bar = new ProgressBar(rows.size(), o.disableTqdm() ? null : err);
        RequestOutput[] outputs = new RequestOutput[rows.size()];
        SplittableRandom arrivals = new SplittableRandom(o.seed() + 1);
        long origin = System.nanoTime();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < rows.size(); i++) {
                int k = i;
                DatasetRow row = rows.get(i);
                pool.submit(() -> {
                    try {
                        limit.acquire();
                    } catch (InterruptedException e) {
                        outputs[k] = RequestOutput.failure(row.promptLen(), "interrupted", 0);
                        return;
                    }
                    try {
                        outputs[k] = client.send(row.prompt(), row.promptLen(), row.outputLen(), origin);
                    } finally {
                        limit.release();
                        bar.step();
                    }
                });
                if (Double.isFinite(o.requestRate())) sleep(-Math.log(1 - arrivals.nextDouble()) / o.requestRate());
            }
        }
        double duration = (System.nanoTime() - origin) / 1e9;
        bar.close();

        List<RequestOutput> outs = Arrays.asList(outputs);
        JsonNode serverInfo = server.serverInfo();
        Double acceptLength = o.backend().isSglang() ? ServerApi.acceptLength(serverInfo) : null;
        Metrics m = Metrics.compute(rows, outs, duration, text -> tok.encode(text, false).length);
        reportFailures(outs);
        out.println();
        for (String line : ResultBlock.lines(o.backend().cliName, o.requestRate(), o.maxConcurrency(), duration, m, acceptLength))
            out.println(line);
        out.flush();
        ObjectNode line = ResultJson.line(o, serverInfo, duration, m, acceptLength, outs);
        ResultJson.append(Path.of(o.resolvedOutputFile(LocalDate.now())), line);
        return new Result(line, m, duration, outs, tok);
    }

    private void warmup(DatasetRow first, ApiClient client, Semaphore limit) {
        int n = o.warmupRequests();
        out.println("Starting warmup with " + n + " sequences...");
        if (n == 0) return;
        List<Future<RequestOutput>> futures = new ArrayList<>();
        long origin = System.nanoTime();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < n; i++) {
                futures.add(pool.submit(() -> {
                    limit.acquire();
                    try {
                        return client.send(first.prompt(), first.promptLen(), Math.min(first.outputLen(), 32), origin);
                    } finally {
                        limit.release();
                    }
                }));
            }
        }
        List<RequestOutput> results = futures.stream().map(Future::resultNow).toList();
        if (results.stream().noneMatch(RequestOutput::success))
            throw new BenchException("Warmup failed - Please make sure benchmark arguments are correctly specified. Error: "
                    + results.getFirst().error());
        out.println("Warmup completed with " + n + " sequences. Starting main benchmark run...");
    }

    private void reportFailures(List<RequestOutput> outs) {
        Map<String, Integer> errors = new LinkedHashMap<>();
        int failed = 0;
        for (RequestOutput r : outs) {
            if (r.success()) continue;
            failed++;
            errors.merge(r.error().lines().findFirst().orElse("(no message)"), 1, Integer::sum);
        }
        if (failed == 0) return;
        err.println("WARNING " + failed + " of " + outs.size() + " requests failed"
                + (failed == outs.size() ? " (all of them: check the server, --backend and --model)" : "") + ":");
        errors.entrySet().stream().limit(5).forEach(e -> err.println("  " + e.getValue() + " x " + e.getKey()));
        if (errors.size() > 5) err.println("  ... and " + (errors.size() - 5) + " other errors (--output-details keeps them all)");
    }

    /** {@code OPENAI_API_KEY} as a bearer token (else {@code API_KEY} as is), then {@code --header K=V} entries. */
    static Map<String, String> headers(List<String> extra) {
        Map<String, String> h = new LinkedHashMap<>();
        String openai = System.getenv("OPENAI_API_KEY"), plain = System.getenv("API_KEY");
        if (openai != null && !openai.isEmpty()) h.put("Authorization", "Bearer " + openai);
        else if (plain != null && !plain.isEmpty()) h.put("Authorization", plain);
        for (String kv : extra) {
            int eq = kv.indexOf('=');
            if (eq <= 0) throw new IllegalArgumentException("--header expects Key=Value, not '" + kv + "'");
            h.put(kv.substring(0, eq).strip(), kv.substring(eq + 1).strip());
        }
        return h;
    }

    static ObjectNode extraBody(String json) {
        if (json == null || json.isBlank()) return ResultJson.MAPPER.createObjectNode();
        try {
            JsonNode n = ResultJson.MAPPER.readTree(json);
            if (n instanceof ObjectNode obj) return obj;
        } catch (IOException e) {
            throw new IllegalArgumentException("--extra-request-body is not valid JSON: " + e.getMessage());
        }
        throw new IllegalArgumentException("--extra-request-body must be a JSON object, e.g. '{\"top_p\": 0.9}'");
    }

    private static boolean isTrue(String v) {
        return v != null && (v.equalsIgnoreCase("true") || v.equals("1"));
    }

    private static void sleep(double seconds) {
        try {
            TimeUnit.NANOSECONDS.sleep((long) (seconds * 1e9));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BenchException("interrupted");
        }
    }
}
