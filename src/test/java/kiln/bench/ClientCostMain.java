package kiln.bench;

import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Measures the benchmark client's own cost per streamed token (docs/performance.md, "Benchmark client"): a
 * {@link StubServer} in a separate JVM streams tokens as fast as it can, this JVM runs a whole {@link Benchmark}
 * (HTTP, SSE parsing, timing, metrics), and the client's process CPU time is divided by the tokens it read.
 * Not a test: run by hand, e.g.
 * {@code java -cp target/test-classes:target/classes:$(cat cp.txt) kiln.bench.ClientCostMain 64 128 2000}.
 */
public final class ClientCostMain {
    public static void main(String[] args) throws Exception {
        int concurrency = args.length > 0 ? Integer.parseInt(args[0]) : 64;
        int prompts = args.length > 1 ? Integer.parseInt(args[1]) : 128;
        int outputLen = args.length > 2 ? Integer.parseInt(args[2]) : 2000;
        int port = BenchmarkTest.freePort();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process stub = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), "kiln.bench.StubServer",
                "--port", Integer.toString(port)).inheritIO().start();
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        Path out = Files.createTempFile("client-cost", ".jsonl");
        try {
            for (BackendKind backend : List.of(BackendKind.SGLANG, BackendKind.SGLANG_OAI, BackendKind.SGLANG_OAI_CHAT)) {
                for (int round = 0; round < 2; round++) { // the first round warms the JIT up
                    BenchOptions o = new BenchOptions(backend, "http://127.0.0.1:" + port, "127.0.0.1", null, null, null,
                            "random-ids", "", prompts, null, null, 256, outputLen, 1.0, Double.POSITIVE_INFINITY,
                            concurrency, 1, out.toString(), false, false, false, null, 1, false,
                            backend.api == BackendKind.Api.NATIVE, false, 4, 3, 40, 8, 5, 1.0, 30, true, null, List.of(), 60);
                    long cpu0 = os.getProcessCpuTime(), t0 = System.nanoTime();
                    // a trivial tokenizer on purpose: the per-token streaming cost without the tokenizer's one-off costs
                    Benchmark.Result r = new Benchmark(o, new PrintStream(PrintStream.nullOutputStream()), System.err)
                            .withTokenizer(new Utf8ByteTokenizer()).run();
                    // the run includes the 1 s pause after warmup, which costs no CPU
                    double cpuNs = os.getProcessCpuTime() - cpu0, wall = (System.nanoTime() - t0) / 1e9;
                    long tokens = r.metrics().totalOutput();
                    if (round == 1)
                        System.out.printf("%-16s concurrency %3d: %8d tokens, client CPU %.2f s = %.2f us/token, "
                                        + "%.0f tokens/s streamed (run %.1f s incl. the 1 s pause)%n",
                                backend.cliName, concurrency, tokens, cpuNs / 1e9, cpuNs / 1e3 / tokens,
                                r.metrics().outputThroughput(), wall);
                }
            }
        } finally {
            stub.destroy();
            Files.deleteIfExists(out);
        }
    }
}
