package kiln.bench;

import java.util.Arrays;

/**
 * The numpy statistics sglang.bench_serving reports, computed the same way: population standard deviation,
 * median as the mean of the two middle values, percentiles by linear interpolation between closest ranks
 * (numpy's default method, including its lerp that counts back from the upper value when t >= 0.5).
 * SGLang passes {@code xs or 0}: an empty sample is treated as the single value 0.
 */
public final class Stats {
    private final double[] sorted;

    private Stats(double[] sorted) {
        this.sorted = sorted;
    }

    /** Statistics of {@code values}; an empty array stands for {@code [0]}, as in SGLang. */
    public static Stats of(double[] values) {
        double[] s = values.length == 0 ? new double[]{0} : values.clone();
        Arrays.sort(s);
        return new Stats(s);
    }

    /** Like {@link #of} but an empty sample gives NaN everywhere (SGLang's E2E figures when every request failed). */
    public static Stats ofOrNaN(double[] values) {
        return values.length == 0 ? new Stats(new double[]{Double.NaN}) : of(values);
    }

    public int count() {
        return sorted.length;
    }

    public double mean() {
        double sum = 0;
        for (double v : sorted) sum += v;
        return sum / sorted.length;
    }

    public double median() {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    public double std() {
        double mean = mean(), sq = 0;
        for (double v : sorted) sq += (v - mean) * (v - mean);
        return Math.sqrt(sq / sorted.length);
    }

    public double max() {
        return sorted[sorted.length - 1];
    }

    /** The {@code p}-th percentile (0..100), numpy's "linear" method. */
    public double percentile(double p) {
        double h = p / 100.0 * (sorted.length - 1);
        int lo = (int) Math.floor(h);
        int hi = Math.min(lo + 1, sorted.length - 1);
        double t = h - lo, a = sorted[lo], b = sorted[hi], diff = b - a;
        return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
    }

    public static double sum(double[] values) {
        double sum = 0;
        for (double v : values) sum += v;
        return sum;
    }
}
