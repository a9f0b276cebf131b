package kiln.backend.cuda;

import kiln.backend.ForwardBatch;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Comparator;

/**
 * The block table of mla_prefill.cuh's kernels (MLA in the MHA form, GQA prefill): one entry per block of up to 64
 * new tokens of one sequence, built on the host and uploaded once per batch, shared by every layer's launch.
 */
final class PrefillBlocks {
    private final CudaContext ctx;
    /** The table on the device and the batch it describes. */
    private long table;
    private ForwardBatch tableBatch;
    private int blocks;

    PrefillBlocks(CudaContext ctx) {
        this.ctx = ctx;
    }

    /**
     * One entry per block of up to 64 new tokens of one sequence, five ints each (first query row in the flat batch,
     * rows, the context index the block's first row sees up to, the sequence's first context row, its context
     * length). Longest blocks first: a CTA's work grows with its causal prefix, and starting the long ones first keeps
     * the end of the grid from waiting on a few of them.
     */
    static int[] blockTable(ForwardBatch b) {
        int rows = MlaPrefillKernels.ROWS;
        int n = 0;
        for (ForwardBatch.Seq s : b.seqs()) n += (s.newTokens() + rows - 1) / rows;
        int[][] entries = new int[n][];
        int at = 0, ctx = 0;
        for (ForwardBatch.Seq s : b.seqs()) {
            for (int q0 = 0; q0 < s.newTokens(); q0 += rows) {
                entries[at++] = new int[]{s.tokenStart() + q0, Math.min(rows, s.newTokens() - q0), s.cachedTokens() + q0, ctx, s.totalTokens()};
            }
            ctx += s.totalTokens();
        }
        Arrays.sort(entries, Comparator.comparingInt((int[] e) -> -(e[2] + e[1])));
        int[] table = new int[MlaPrefillKernels.TABLE_INTS * n];
        for (int i = 0; i < n; i++) System.arraycopy(entries[i], 0, table, MlaPrefillKernels.TABLE_INTS * i, MlaPrefillKernels.TABLE_INTS);
        return table;
    }

    /**
     * Every sequence's whole context (cached prefix and this step's entries, already stored) from layer
     * {@code layer} of the cache into rows of {@code out}, in batch order: BatchMeta's flat slot list is every
     * sequence's slots [0, totalTokens), which is the order the table's context rows count in. An FP8 cache is
     * widened to the activation type on the way.
     */
    void gatherContext(CudaKvCache cache, int layer, CudaTensor out) {
        int entry = cache.layout().valuesPerToken();
        ctx.elementwise.gatherKv(ctx.precision, cache.dtype, cache.layer(layer), entry, ctx.meta.slots(), entry, out.ptr(), out.ld(), out.rows(), 128);
    }

    /** The current batch's table on the device (uploaded by its first launch). */
    long table() {
        ForwardBatch b = ctx.batch();
        if (b != tableBatch) upload(b);
        return table;
    }

    /** Entries of the current batch's table (after {@link #table}). */
    int blocks() {
        return blocks;
    }

    private void upload(ForwardBatch b) {
        if (ctx.capturing()) throw new IllegalStateException("prefill attention: extend batches are not graph-captured");
        int[] t = blockTable(b);
        if (table == 0) table = ctx.transfers.allocate(4L * MlaPrefillKernels.TABLE_INTS * ctx.options.maxBatchTokens());
        ctx.transfers.uploadAsync(table, MemorySegment.ofArray(t), 4L * t.length);
        tableBatch = b;
        blocks = t.length / MlaPrefillKernels.TABLE_INTS;
    }
}
