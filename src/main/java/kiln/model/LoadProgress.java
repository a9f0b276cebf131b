package kiln.model;

import kiln.Log;

import java.util.Arrays;

/**
 * The "Loading weights ... N/M layers" lines of one model load, for all of its ranks together: the ranks load in
 * parallel and report each layer here, and one line every 2 s at most (and one when the last rank finishes) says
 * where the slowest rank is and how many bytes the ranks hold together, so that tp 8 logs as readably as tp 1.
 */
final class LoadProgress {
    private static final long EVERY_NANOS = 2_000_000_000L;
    private final int[] layers;
    private final long[] bytes;
    private final long start = System.nanoTime();
    private long lastLog = start;
    private boolean ended;

    LoadProgress(int ranks) {
        layers = new int[ranks];
        bytes = new long[ranks];
    }

    /** Rank {@code rank} has loaded {@code done} of its {@code of} layers and holds {@code rankBytes} of weights. */
    synchronized void layer(int rank, int done, int of, long rankBytes, String source) {
        layers[rank] = done;
        bytes[rank] = rankBytes;
        int slowest = Arrays.stream(layers).min().orElseThrow();
        long now = System.nanoTime();
        boolean last = slowest == of;
        if (ended || !last && now - lastLog <= EVERY_NANOS) return;
        ended = last;
        lastLog = now;
        double gb = Arrays.stream(bytes).sum() / 1e9, seconds = (now - start) / 1e9;
        if (layers.length == 1) {
            Log.info("Loading weights from %s: %d/%d layers, %.2f GB (%.1f s)", source, done, of, gb, seconds);
        } else {
            int fastest = Arrays.stream(layers).max().orElseThrow();
            Log.info("Loading weights from %s on %d ranks: %d/%d layers (slowest rank; fastest %d), %.2f GB in all (%.1f s)",
                    source, layers.length, slowest, of, fastest, gb, seconds);
        }
    }
}
