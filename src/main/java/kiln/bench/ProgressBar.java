package kiln.bench;

import java.io.PrintStream;
import java.util.concurrent.atomic.AtomicInteger;

/** A tqdm-style bar on stderr ("45%|█████     | 450/1000 [00:12<00:15, 36.50it/s]"), redrawn at most 10 times a second. */
public final class ProgressBar {
    private static final int WIDTH = 30;
    private final int total;
    private final PrintStream out;
    private final long start = System.nanoTime();
    private final AtomicInteger done = new AtomicInteger();
    private long lastDraw;

    /** A bar over {@code total} items; {@code out} null draws nothing ({@code --disable-tqdm}). */
    public ProgressBar(int total, PrintStream out) {
        this.total = total;
        this.out = out;
        if (out != null) draw(0);
    }

    public void step() {
        int n = done.incrementAndGet();
        if (out == null) return;
        long now = System.nanoTime();
        synchronized (this) {
            if (n < total && now - lastDraw < 100_000_000L) return;
            lastDraw = now;
            draw(n);
        }
    }

    public synchronized void close() {
        if (out == null) return;
        draw(done.get());
        out.println();
        out.flush();
    }

    private void draw(int n) {
        double elapsed = (System.nanoTime() - start) / 1e9;
        double rate = elapsed > 0 ? n / elapsed : 0;
        int filled = total == 0 ? WIDTH : (int) ((long) n * WIDTH / total);
        String remaining = rate > 0 ? clock((total - n) / rate) : "?";
        out.printf("\r%3d%%|%s%s| %d/%d [%s<%s, %.2fit/s]", total == 0 ? 100 : n * 100L / total,
                "█".repeat(filled), " ".repeat(WIDTH - filled), n, total, clock(elapsed), remaining, rate);
        out.flush();
    }

    private static String clock(double seconds) {
        long s = (long) seconds;
        return s >= 3600 ? String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String.format("%02d:%02d", s / 60, s % 60);
    }
}
