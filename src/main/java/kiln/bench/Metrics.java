package kiln.bench;

import java.util.List;
import java.util.function.ToIntFunction;

/**
 * The figures of one run, defined as sglang.bench_serving's calculate_metrics defines them. Latencies are in
 * milliseconds, throughputs per second of {@code duration} (the wall time from the first request sent to the
 * last answer read).
 */
public record Metrics(
        int completed, long totalInput, long totalInputText, long totalInputVision, long totalOutput,
        long totalOutputRetokenized,
        double requestThroughput, double inputThroughput, double outputThroughput, double totalThroughput,
        double meanTtftMs, double medianTtftMs, double stdTtftMs, double p99TtftMs,
        double meanTpotMs, double medianTpotMs, double stdTpotMs, double p99TpotMs,
        double meanItlMs, double medianItlMs, double stdItlMs, double p95ItlMs, double p99ItlMs, double maxItlMs,
        double meanE2eMs, double medianE2eMs, double stdE2eMs, double p90E2eMs, double p99E2eMs,
        double concurrency, double maxOutputTokensPerS, int maxConcurrentRequests,
        int[] outputLens) {

    /**
     * Metrics of {@code outputs[i]} answering {@code rows[i]}. {@code retokenize} counts the tokens of a generated
     * text (the tokenizer's encode without special tokens): the "(retokenized)" total.
     */
    public static Metrics compute(List<DatasetRow> rows, List<RequestOutput> outputs, double durationS,
                                  ToIntFunction<String> retokenize) {
        if (rows.size() != outputs.size()) throw new IllegalArgumentException("one output per dataset row expected");
        int n = outputs.size(), completed = 0;
        long totalInput = 0, totalOutput = 0, retokenized = 0;
        int[] outputLens = new int[n];
        DoubleList ttfts = new DoubleList(), tpots = new DoubleList(), itls = new DoubleList(), e2e = new DoubleList();
        for (int i = 0; i < n; i++) {
            RequestOutput o = outputs.get(i);
            if (!o.success()) continue;
            outputLens[i] = o.outputLen();
            totalOutput += o.outputLen();
            retokenized += retokenize.applyAsInt(o.generatedText());
            totalInput += rows.get(i).promptLen();
            if (o.outputLen() > 1) tpots.add((o.latency() - o.ttft()) / (o.outputLen() - 1));
            itls.addAll(o.itl());
            ttfts.add(o.ttft());
            e2e.add(o.latency());
            completed++;
        }
        Stats ttft = Stats.of(ttfts.toArray()), tpot = Stats.of(tpots.toArray()), itl = Stats.of(itls.toArray());
        Stats lat = Stats.ofOrNaN(e2e.toArray());
        Peaks peaks = Peaks.of(outputs);
        double d = durationS;
        return new Metrics(completed, totalInput, totalInput, 0, totalOutput, retokenized,
                completed / d, totalInput / d, totalOutput / d, (totalInput + totalOutput) / d,
                ms(ttft.mean()), ms(ttft.median()), ms(ttft.std()), ms(ttft.percentile(99)),
                ms(tpot.mean()), ms(tpot.median()), ms(tpot.std()), ms(tpot.percentile(99)),
                ms(itl.mean()), ms(itl.median()), ms(itl.std()), ms(itl.percentile(95)), ms(itl.percentile(99)),
                ms(itl.max()),
                ms(lat.mean()), ms(lat.median()), ms(lat.std()), ms(lat.percentile(90)), ms(lat.percentile(99)),
                Stats.sum(e2e.toArray()) / d, peaks.maxOutputTokensPerS(), peaks.maxConcurrentRequests(),
                outputLens);
    }

    private static double ms(double seconds) {
        return seconds * 1000;
    }

    /** A growable double array: ITL lists reach millions of entries in long runs. */
    static final class DoubleList {
        private double[] a = new double[16];
        private int size;

        void add(double v) {
            if (size == a.length) a = java.util.Arrays.copyOf(a, size * 2);
            a[size++] = v;
        }

        void addAll(double[] vs) {
            for (double v : vs) add(v);
        }

        int size() {
            return size;
        }

        double[] toArray() {
            return java.util.Arrays.copyOf(a, size);
        }
    }
}
