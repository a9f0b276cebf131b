package kiln.bench;

import java.util.List;

/**
 * Peak output tokens per second and peak concurrent requests, from 1-second buckets counted from the first
 * successful request's start, as sglang.bench_serving does: each token lands in the bucket of its arrival
 * (first token at start + TTFT, later ones after each ITL), each request counts in every bucket from the one
 * it started in to the one it ended in, both included.
 */
public record Peaks(double maxOutputTokensPerS, int maxConcurrentRequests) {

    public static Peaks of(List<RequestOutput> outputs) {
        double minStart = Double.POSITIVE_INFINITY, maxEnd = Double.NEGATIVE_INFINITY;
        for (RequestOutput o : outputs) {
            if (!o.success()) continue;
            minStart = Math.min(minStart, o.startTime());
            maxEnd = Math.max(maxEnd, o.startTime() + o.latency());
        }
        if (minStart == Double.POSITIVE_INFINITY) return new Peaks(0, 0);
        int buckets = (int) Math.ceil(maxEnd - minStart) + 1;
        double[] tokens = new double[buckets];
        int[] running = new int[buckets];
        for (RequestOutput o : outputs) {
            if (!o.success()) continue;
            double t = o.startTime() + o.ttft();
            count(tokens, t - minStart);
            for (double gap : o.itl()) count(tokens, (t += gap) - minStart);
            int first = (int) (o.startTime() - minStart);
            int last = (int) (o.startTime() + o.latency() - minStart);
            for (int s = first; s < Math.min(last + 1, buckets); s++) running[s]++;
        }
        double maxTokens = 0;
        int maxRunning = 0;
        for (int s = 0; s < buckets; s++) {
            maxTokens = Math.max(maxTokens, tokens[s]);
            maxRunning = Math.max(maxRunning, running[s]);
        }
        return new Peaks(maxTokens, maxRunning);
    }

    private static void count(double[] tokens, double offset) {
        int bucket = (int) offset;
        if (bucket >= 0 && bucket < tokens.length) tokens[bucket]++;
    }
}
