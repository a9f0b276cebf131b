package kiln.backend.cuda;

/**
 * Launchers of collective.cuh's entry points: the sum of the ranks' tensors written back into each (virtual ranks'
 * all-reduce) and the placement of the ranks' column parts side by side (all-gather). Every rank's tensor goes by
 * value, up to {@link #MAX_RANKS}; unused argument slots are zero.
 */
final class CollectiveKernels {
    /** collective.cuh's TP_MAX_RANKS. */
    static final int MAX_RANKS = 8;
    private static final int THREADS = 256;

    private final KernelLauncher k;

    CollectiveKernels(KernelLauncher k) {
        this.k = k;
    }

    private static void checkRanks(int n, int given) {
        if (n < 1 || n > MAX_RANKS || given < n) {
            throw new IllegalArgumentException(n + " ranks (" + given + " tensors given) for a collective of at most " + MAX_RANKS);
        }
    }

    /** Every tensor [rows, cols] of ptr[r] / ld[r] becomes the rank-ordered float sum, rounded once. */
    void sum(Precision act, int n, long[] ptr, long[] ld, int cols, int rows) {
        checkRanks(n, ptr.length);
        KernelLauncher.Launch l = k.fn("tp_sum_" + act.suffix).i32(n).i32(cols);
        for (int r = 0; r < MAX_RANKS; r++) l.ptr(r < n ? ptr[r] : 0).i64(r < n ? ld[r] : 0);
        // a second grid dimension over columns keeps wide rows (a layer's hidden size) on several blocks
        l.launch(rows, Math.max(1, Math.min(8, CudaContext.ceilDiv(cols, 4 * THREADS))), 1, THREADS, 0);
    }

    /** out's row = part 0's row, then part 1's, ...: part r is ptr[r] / ld[r], width[r] columns. */
    void gatherColumns(Precision act, int n, long out, long ldo, long[] ptr, long[] ld, int[] width, int rows) {
        checkRanks(n, ptr.length);
        KernelLauncher.Launch l = k.fn("tp_gather_cols_" + act.suffix).i32(n).ptr(out).i64(ldo);
        for (int r = 0; r < MAX_RANKS; r++) l.ptr(r < n ? ptr[r] : 0).i64(r < n ? ld[r] : 0).i32(r < n ? width[r] : 0);
        l.launch(rows, THREADS);
    }
}
