package kiln.bench;

import java.util.ArrayList;
import java.util.List;

import static kiln.bench.PyFormat.center;
import static kiln.bench.PyFormat.fixed2;
import static kiln.bench.PyFormat.left;
import static kiln.bench.PyFormat.repr;

/**
 * The "Serving Benchmark Result" block exactly as sglang.bench_serving prints it: labels left-aligned in 40
 * columns, a space, values left-aligned in 10 (so lines keep their trailing spaces), floats with two decimals.
 */
public final class ResultBlock {
    private ResultBlock() {}

    /** The block's lines; SGLang prints an empty line before the first. */
    public static List<String> lines(String backend, double requestRate, Integer maxConcurrency, double durationS,
                                     Metrics m, Double acceptLength) {
        List<String> out = new ArrayList<>();
        out.add(center(" Serving Benchmark Result ", 50, '='));
        row(out, "Backend:", backend);
        row(out, "Traffic request rate:", repr(requestRate));
        row(out, "Max request concurrency:", maxConcurrency != null ? maxConcurrency.toString() : "not set");
        row(out, "Successful requests:", Integer.toString(m.completed()));
        row(out, "Benchmark duration (s):", fixed2(durationS));
        row(out, "Total input tokens:", Long.toString(m.totalInput()));
        row(out, "Total input text tokens:", Long.toString(m.totalInputText()));
        row(out, "Total generated tokens:", Long.toString(m.totalOutput()));
        row(out, "Total generated tokens (retokenized):", Long.toString(m.totalOutputRetokenized()));
        row(out, "Request throughput (req/s):", fixed2(m.requestThroughput()));
        row(out, "Input token throughput (tok/s):", fixed2(m.inputThroughput()));
        row(out, "Output token throughput (tok/s):", fixed2(m.outputThroughput()));
        row(out, "Peak output token throughput (tok/s):", fixed2(m.maxOutputTokensPerS()));
        row(out, "Peak concurrent requests:", Integer.toString(m.maxConcurrentRequests()));
        row(out, "Total token throughput (tok/s):", fixed2(m.totalThroughput()));
        row(out, "Concurrency:", fixed2(m.concurrency()));
        if (acceptLength != null && acceptLength != 0) row(out, "Accept length:", fixed2(acceptLength));
        out.add(center("End-to-End Latency", 50, '-'));
        row(out, "Mean E2E Latency (ms):", fixed2(m.meanE2eMs()));
        row(out, "Median E2E Latency (ms):", fixed2(m.medianE2eMs()));
        row(out, "P90 E2E Latency (ms):", fixed2(m.p90E2eMs()));
        row(out, "P99 E2E Latency (ms):", fixed2(m.p99E2eMs()));
        out.add(center("Time to First Token", 50, '-'));
        row(out, "Mean TTFT (ms):", fixed2(m.meanTtftMs()));
        row(out, "Median TTFT (ms):", fixed2(m.medianTtftMs()));
        row(out, "P99 TTFT (ms):", fixed2(m.p99TtftMs()));
        out.add(center("Time per Output Token (excl. 1st token)", 50, '-'));
        row(out, "Mean TPOT (ms):", fixed2(m.meanTpotMs()));
        row(out, "Median TPOT (ms):", fixed2(m.medianTpotMs()));
        row(out, "P99 TPOT (ms):", fixed2(m.p99TpotMs()));
        out.add(center("Inter-Token Latency", 50, '-'));
        row(out, "Mean ITL (ms):", fixed2(m.meanItlMs()));
        row(out, "Median ITL (ms):", fixed2(m.medianItlMs()));
        row(out, "P95 ITL (ms):", fixed2(m.p95ItlMs()));
        row(out, "P99 ITL (ms):", fixed2(m.p99ItlMs()));
        row(out, "Max ITL (ms):", fixed2(m.maxItlMs()));
        out.add("=".repeat(50));
        return out;
    }

    private static void row(List<String> out, String label, String value) {
        out.add(left(label, 40) + " " + left(value, 10));
    }
}
