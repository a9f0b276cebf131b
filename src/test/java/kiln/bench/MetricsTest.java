package kiln.bench;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Metric arithmetic on synthetic timings against numpy (the reference values come from
 * src/test/resources/kiln/bench/ref_metrics.py, which applies SGLang's calculate_metrics formulas with numpy).
 */
class MetricsTest {
    private static final double EPS = 1e-9;

    /** Three successful requests and one failed one, timings in seconds (see ref_metrics.py). */
    static final List<DatasetRow> ROWS = List.of(row(100), row(200), row(300), row(400));
    static final List<RequestOutput> OUTPUTS = List.of(
            ok(0.0, 0.5, new double[]{0.1, 0.1, 0.1}, 0.8, 4, "abcd", 100),
            ok(0.2, 1.0, new double[]{0.2, 0.3}, 1.5, 3, "xyz", 200),
            RequestOutput.failure(300, "boom", 0.3),
            ok(1.1, 0.3, new double[]{0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05}, 0.8, 11, "hello world", 400));
    static final double DURATION = 2.5;

    static DatasetRow row(int promptLen) {
        return new DatasetRow(new Prompt.Text("p"), promptLen, 16);
    }

    static RequestOutput ok(double start, double ttft, double[] itl, double latency, int outLen, String text, int promptLen) {
        return new RequestOutput(true, text, latency, ttft, itl, promptLen, outLen, "", start);
    }

    static Metrics metrics() {
        return Metrics.compute(ROWS, OUTPUTS, DURATION, String::length);
    }

    @Test
    void countsAndThroughputs() {
        Metrics m = metrics();
        assertEquals(3, m.completed());
        assertEquals(700, m.totalInput());
        assertEquals(700, m.totalInputText());
        assertEquals(18, m.totalOutput());
        assertEquals(18, m.totalOutputRetokenized());
        assertEquals(1.2, m.requestThroughput(), EPS);
        assertEquals(280.0, m.inputThroughput(), EPS);
        assertEquals(7.2, m.outputThroughput(), EPS);
        assertEquals(287.2, m.totalThroughput(), EPS);
        assertEquals(1.2399999999999998, m.concurrency(), EPS);
        assertEquals(List.of(4, 3, 0, 11), java.util.Arrays.stream(m.outputLens()).boxed().toList());
    }

    @Test
    void latencyStatisticsMatchNumpy() {
        Metrics m = metrics();
        assertEquals(600.0, m.meanTtftMs(), EPS);
        assertEquals(500.0, m.medianTtftMs(), EPS);
        assertEquals(294.3920288775949, m.stdTtftMs(), EPS);
        assertEquals(990.0, m.p99TtftMs(), EPS);
        assertEquals(133.33333333333334, m.meanTpotMs(), EPS);
        assertEquals(100.00000000000001, m.medianTpotMs(), EPS);
        assertEquals(84.98365855987976, m.stdTpotMs(), EPS);
        assertEquals(247.0, m.p99TpotMs(), EPS);
        assertEquals(86.66666666666669, m.meanItlMs(), EPS);
        assertEquals(50.0, m.medianItlMs(), EPS);
        assertEquals(69.44222218666552, m.stdItlMs(), EPS);
        assertEquals(229.9999999999999, m.p95ItlMs(), EPS);
        assertEquals(285.99999999999994, m.p99ItlMs(), EPS);
        assertEquals(300.0, m.maxItlMs(), EPS);
        assertEquals(1033.3333333333333, m.meanE2eMs(), EPS);
        assertEquals(800.0, m.medianE2eMs(), EPS);
        assertEquals(329.9831645537222, m.stdE2eMs(), EPS);
        assertEquals(1360.0, m.p90E2eMs(), EPS);
        assertEquals(1486.0, m.p99E2eMs(), EPS);
    }

    @Test
    void tpotExcludesTheFirstToken() {
        // (latency - ttft) / (output tokens - 1): 0.3/3, 0.5/2, 0.5/10; a one-token answer has no TPOT
        var single = List.of(ok(0, 0.2, new double[0], 0.2, 1, "a", 1), ok(0, 0.1, new double[]{0.4}, 0.5, 2, "ab", 1));
        Metrics m = Metrics.compute(List.of(row(1), row(1)), single, 1.0, String::length);
        assertEquals(400.0, m.meanTpotMs(), EPS);
        assertEquals(400.0, m.p99TpotMs(), EPS);
    }

    @Test
    void peaksCountOneSecondBuckets() {
        // bucket 0: the 4 tokens of request 0; bucket 1: 3 of request 1 + 11 of request 3
        Metrics m = metrics();
        assertEquals(14.0, m.maxOutputTokensPerS());
        // request 1 spans buckets 0 and 1, request 0 only 0, request 3 only 1: two at a time at most
        assertEquals(2, m.maxConcurrentRequests());
    }

    @Test
    void peakConcurrencyCountsEveryBucketARequestTouches() {
        // three requests each lasting 2.5 s, started 0.9 s apart: buckets [0..2], [0..3], [1..4]
        var outs = List.of(ok(0.0, 0.1, new double[0], 2.5, 1, "a", 1), ok(0.9, 0.1, new double[0], 2.5, 1, "a", 1),
                ok(1.8, 0.1, new double[0], 2.5, 1, "a", 1));
        var peaks = Peaks.of(outs);
        assertEquals(3, peaks.maxConcurrentRequests());
        // first tokens at 0.1, 1.0 and 1.9 s: buckets 0, 1, 1
        assertEquals(2.0, peaks.maxOutputTokensPerS());
    }

    @Test
    void allFailedGivesZerosAndNaNLatencies() {
        var outs = List.of(RequestOutput.failure(5, "refused", 0), RequestOutput.failure(5, "refused", 0));
        Metrics m = Metrics.compute(List.of(row(5), row(5)), outs, 1.0, String::length);
        assertEquals(0, m.completed());
        assertEquals(0, m.totalInput());
        assertEquals(0.0, m.meanTtftMs());
        assertEquals(0.0, m.p99ItlMs());
        assertTrue(Double.isNaN(m.meanE2eMs()));
        assertEquals(0.0, m.maxOutputTokensPerS());
        assertEquals(0, m.maxConcurrentRequests());
    }

    @Test
    void statsEqualNumpy() {
        Stats s = Stats.of(new double[]{0.012, 0.0151, 0.009, 0.0302, 0.011, 0.0105, 0.0499});
        assertEquals(0.01967142857142857, s.mean(), 1e-15);
        assertEquals(0.012, s.median());
        assertEquals(0.014028309569857485, s.std(), 1e-15);
        assertEquals(0.03808000000000001, s.percentile(90));
        assertEquals(0.04398999999999999, s.percentile(95));
        assertEquals(0.04871799999999999, s.percentile(99));
        assertEquals(0.0499, s.max());
        Stats even = Stats.of(new double[]{3.0, 1.0, 4.0, 1.5});
        assertEquals(2.25, even.median());
        assertEquals(1.192424001771182, even.std(), 1e-15);
        assertEquals(3.7, even.percentile(90), 1e-15);
        assertEquals(3.8499999999999996, even.percentile(95));
        assertEquals(3.9699999999999998, even.percentile(99));
    }

    @Test
    void percentilesOfLongSamplesEqualNumpyToTheBit() {
        double[] a = new double[5000], b = new double[4999];
        for (int i = 0; i < a.length; i++) a[i] = ((i * 7919L) % 1000) / 997.0;
        for (int i = 0; i < b.length; i++) b[i] = ((i * 7919L) % 1013) / 991.0;
        Stats sa = Stats.of(a), sb = Stats.of(b);
        double[] ps = {1, 50, 90, 95, 99, 99.9};
        double[] ea = {0.010020060180541626, 0.5010030090270812, 0.9018054162487467, 0.9519057171514546, 0.9919859578736211, 1.0010040120361086};
        double[] eb = {0.010090817356205853, 0.5105953582240161, 0.9192734611503531, 0.970736629667003, 1.0111200807265384, 1.0201836528758834};
        for (int i = 0; i < ps.length; i++) {
            assertEquals(ea[i], sa.percentile(ps[i]), "p" + ps[i]);
            assertEquals(eb[i], sb.percentile(ps[i]), "p" + ps[i]);
        }
        assertEquals(0.5010030090270812, sa.median());
        assertEquals(0.5105953582240161, sb.median());
        assertEquals(0.5108369807160221, sb.mean(), 1e-12);
        assertEquals(0.2950864916210307, sb.std(), 1e-12);
    }

    @Test
    void emptySampleCountsAsZeroLikeSglang() {
        Stats s = Stats.of(new double[0]);
        assertEquals(0.0, s.mean());
        assertEquals(0.0, s.percentile(99));
        assertEquals(0.0, s.std());
    }
}
