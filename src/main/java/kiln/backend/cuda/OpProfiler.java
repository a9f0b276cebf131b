package kiln.backend.cuda;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Device time per backend op ({@link CudaFlags#profile}, {@code -Dkiln.cuda.profile=true}): a pair of events around every op of
 * the CUDA backend on the device's stream, read back when {@link #collect} is called (it synchronises), and
 * summed per label (op name and shape class, e.g. "linear 2048x7168 F8_E4M3 m=1"). CUDA graphs are off while
 * profiling (the runner replays eagerly), so the table shows eager kernel time; the gap between the op sum and
 * the step's wall time is host launch overhead. Owned by the device thread.
 */
final class OpProfiler {
    private final MemorySegment stream;
    private final List<MemorySegment> events = new ArrayList<>();
    private final List<String> labels = new ArrayList<>();
    private final Map<String, double[]> totals = new LinkedHashMap<>();  // label -> {ms, calls}
    private int used, depth;

    OpProfiler(MemorySegment stream) {
        this.stream = stream;
    }

    private MemorySegment next() {
        if (used == events.size()) events.add(Driver.createEvent());
        return events.get(used++);
    }

    /** Opens an op; nested ops (an op calling another) count towards the outermost only. */
    void begin(String label) {
        if (depth++ > 0) return;
        if (used + 2 > 8192) collect();  // bound the events in flight on very long forwards
        labels.add(label);
        Driver.record(next(), stream);
    }

    void end() {
        if (--depth > 0) return;
        Driver.record(next(), stream);
    }

    /** Waits for the recorded ops and adds their times to the totals. */
    void collect() {
        if (used == 0) return;
        Driver.synchronizeEvent(events.get(used - 1));
        for (int i = 0; i < labels.size(); i++) {
            double[] t = totals.computeIfAbsent(labels.get(i), k -> new double[2]);
            t[0] += Driver.elapsedMs(events.get(2 * i), events.get(2 * i + 1));
            t[1]++;
        }
        labels.clear();
        used = 0;
    }

    void reset() {
        collect();
        totals.clear();
    }

    /**
     * Totals divided by {@code steps}: per label the device ms per step, its share of {@code stepMs} (the measured
     * wall time of one step), calls per step and µs per call; largest first, then the sum and the remainder.
     */
    String table(String title, int steps, double stepMs) {
        collect();
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "[profile] %s: %d steps, %.3f ms per step (wall)%n", title, steps, stepMs));
        s.append(String.format(Locale.ROOT, "[profile] %10s %6s %8s %9s  %s%n", "ms/step", "%step", "calls", "us/call", "op"));
        double sum = 0;
        List<Map.Entry<String, double[]>> rows = new ArrayList<>(totals.entrySet());
        rows.sort(Comparator.comparingDouble((Map.Entry<String, double[]> e) -> -e.getValue()[0]));
        for (Map.Entry<String, double[]> e : rows) {
            double ms = e.getValue()[0] / steps, calls = e.getValue()[1] / steps;
            sum += ms;
            s.append(String.format(Locale.ROOT, "[profile] %10.4f %5.1f%% %8.1f %9.2f  %s%n", ms, 100 * ms / stepMs, calls, 1000 * ms / calls, e.getKey()));
        }
        s.append(String.format(Locale.ROOT, "[profile] %10.4f %5.1f%% %8s %9s  %s%n", sum, 100 * sum / stepMs, "", "", "sum of ops (device time)"));
        s.append(String.format(Locale.ROOT, "[profile] %10.4f %5.1f%% %8s %9s  %s%n", stepMs - sum, 100 * (stepMs - sum) / stepMs, "", "",
                "outside ops: launch gaps, host work, synchronisation"));
        return s.toString();
    }

    /** Device ms of the ops whose label starts with {@code prefix}. */
    double totalMs(String prefix) {
        collect();
        double ms = 0;
        for (Map.Entry<String, double[]> e : totals.entrySet()) if (e.getKey().startsWith(prefix)) ms += e.getValue()[0];
        return ms;
    }

    void close() {
        for (MemorySegment e : events) Driver.destroyEvent(e);
        events.clear();
    }
}
