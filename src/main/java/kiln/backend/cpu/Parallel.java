package kiln.backend.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.RecursiveAction;

/** Splits index ranges over the cores (one fork-join pool for all CPU kernels). */
final class Parallel {
    private Parallel() {}

    static final int THREADS = Integer.getInteger("kiln.threads", Runtime.getRuntime().availableProcessors());
    private static final ForkJoinPool POOL = THREADS == ForkJoinPool.commonPool().getParallelism()
            ? ForkJoinPool.commonPool() : new ForkJoinPool(THREADS);

    @FunctionalInterface
    interface Range {
        void run(int from, int to);
    }

    /** Runs body over [0, n) in chunks of at least {@code grain} items, several chunks per core. */
    static void forRange(int n, int grain, Range body) {
        int chunks = Math.min(Math.max(1, n / Math.max(1, grain)), THREADS * 4);
        if (chunks <= 1 || THREADS == 1) {
            body.run(0, n);
            return;
        }
        if (ForkJoinTask.inForkJoinPool()) {
            new Chunk(body, n, chunks, 0, chunks).invoke();
        } else {
            POOL.invoke(new Chunk(body, n, chunks, 0, chunks));
        }
    }

    private static final class Chunk extends RecursiveAction {
        private final Range body;
        private final int n, chunks, lo, hi;

        Chunk(Range body, int n, int chunks, int lo, int hi) {
            this.body = body;
            this.n = n;
            this.chunks = chunks;
            this.lo = lo;
            this.hi = hi;
        }

        @Override
        protected void compute() {
            if (hi - lo == 1) {
                int from = (int) ((long) n * lo / chunks), to = (int) ((long) n * hi / chunks);
                if (from < to) body.run(from, to);
                return;
            }
            int mid = (lo + hi) >>> 1;
            invokeAll(new Chunk(body, n, chunks, lo, mid), new Chunk(body, n, chunks, mid, hi));
        }
    }
}
