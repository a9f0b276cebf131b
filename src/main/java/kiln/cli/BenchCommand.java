package kiln.cli;

import kiln.bench.Benchmark;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/** {@code kiln bench}: sglang.bench_serving for any server with the SGLang, vLLM or OpenAI APIs. */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Benchmark a running server as `python3 -m sglang.bench_serving` does: same flags (unique prefixes work),",
                "same result block on stdout, same JSONL line appended to --output-file. See docs/bench.md."})
final class BenchCommand implements Callable<Integer> {
    @Mixin
    BenchFlags flags;

    @Option(names = "--max-concurrency", description = "At most this many requests in flight (default: not set).")
    Integer maxConcurrency;

    @Override
    public Integer call() {
        new Benchmark(flags.toOptions(maxConcurrency), System.out, System.err).run();
        return 0;
    }
}
