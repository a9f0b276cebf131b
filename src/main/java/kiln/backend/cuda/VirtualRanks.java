package kiln.backend.cuda;

import kiln.backend.Backend;
import kiln.backend.GroupBrokenException;

import java.util.concurrent.Phaser;

/**
 * Tensor-parallel ranks sharing one GPU: N {@link CudaBackend}s on one {@link CudaDevice} (one owner thread, one
 * stream), each with its own arena, weights and KV cache, each driven by its own rank thread. This is how the whole
 * CUDA tensor-parallel path (sharded kernels, per-rank KV, graphs with collectives) runs on a machine with one GPU,
 * where NCCL refuses two ranks; it is a check, not a speed-up.
 *
 * <p>A collective is a barrier on the rank threads: each rank posts its tensor and arrives; the last to arrive
 * enqueues the work on the shared stream before any rank is released ({@link Phaser#onAdvance}): the all-reduce is
 * one launch reading every rank's tensor in rank order and writing the float sum, rounded once, into each (so all
 * hold the same bits); the all-gather is one launch per rank placing every part into that rank's output. Every op of
 * every rank goes through the one device thread onto the one stream, so an op a rank issues after a collective runs
 * after it, and ops of different ranks between two collectives touch only their own memory, so their interleaving
 * does not matter. The same holds while a CUDA graph is captured: one capture records every rank's launches and
 * the collectives, and one replay runs the whole group's step ({@link CudaGraphRunner}).
 *
 * <p>A failed rank breaks the group ({@link #abort}): ranks waiting in or later entering a collective throw
 * {@link GroupBrokenException} until {@link #reset}.
 */
final class VirtualRanks implements CudaRankGroup {
    private final CudaDevice device;
    private final CudaBackend[] ranks;
    private final CudaTensor[] posted, outputs;
    private volatile Phaser barrier;
    private volatile Throwable cause;
    /** What the phase in progress does once every rank has posted (set by each rank before it arrives; all agree). */
    private volatile boolean gathering;

    VirtualRanks(CudaBackend like, int size) {
        if (size < 1 || size > CollectiveKernels.MAX_RANKS) {
            throw new IllegalArgumentException("virtual ranks: 1 to " + CollectiveKernels.MAX_RANKS + " ranks on one GPU, not " + size);
        }
        device = like.device();
        ranks = new CudaBackend[size];
        posted = new CudaTensor[size];
        outputs = new CudaTensor[size];
        barrier = newBarrier();
        try {
            for (int r = 0; r < size; r++) ranks[r] = new CudaBackend(device, false, like.options(), this, r);
        } catch (RuntimeException | Error e) {
            for (CudaBackend b : ranks) if (b != null) b.close();
            throw e;
        }
    }

    private Phaser newBarrier() {
        return new Phaser(ranks.length) {
            @Override
            protected boolean onAdvance(int phase, int parties) {
                // runs on the last rank to arrive, before any rank is released
                try {
                    if (gathering) gather();
                    else sum();
                    return false;
                } catch (RuntimeException | Error e) {
                    if (cause == null) cause = e;
                    return true;  // terminated: every waiting rank throws GroupBrokenException naming e
                }
            }
        };
    }

    @Override
    public int size() {
        return ranks.length;
    }

    @Override
    public Backend rank(int rank) {
        return ranks[rank];
    }

    @Override
    public int ranksPerDevice() {
        return ranks.length;
    }

    @Override
    public void allReduceSum(int rank, CudaTensor t) {
        posted[rank] = t;
        gathering = false;
        await(rank);
    }

    @Override
    public void allGatherColumns(int rank, CudaTensor part, CudaTensor out) {
        posted[rank] = part;
        outputs[rank] = out;
        gathering = true;
        await(rank);
    }

    private void sum() {
        int n = ranks.length;
        CudaTensor first = posted[0];
        long[] ptr = new long[n], ld = new long[n];
        for (int r = 0; r < n; r++) {
            CudaTensor t = posted[r];
            if (t.rows() != first.rows() || t.cols() != first.cols() || t.dtype() != first.dtype()) {
                throw new IllegalArgumentException("allReduceSum: rank 0 has [" + first.rows() + ", " + first.cols() + "] " + first.dtype()
                        + ", rank " + r + " [" + t.rows() + ", " + t.cols() + "] " + t.dtype());
            }
            ptr[r] = t.ptr();
            ld[r] = t.ld();
        }
        CudaContext ctx = ranks[0].context();
        ctx.op(() -> "all_reduce " + first.cols() + " m=" + first.rows() + " tp" + n,
                () -> ctx.collective.sum(ctx.precision, n, ptr, ld, first.cols(), first.rows()));
    }

    private void gather() {
        int n = ranks.length;
        long[] ptr = new long[n], ld = new long[n];
        int[] width = new int[n];
        int total = 0;
        for (int r = 0; r < n; r++) {
            CudaTensor p = posted[r];
            if (p.rows() != outputs[0].rows()) throw new IllegalArgumentException("allGatherColumns: parts of " + p.rows() + " rows for " + outputs[0].rows());
            ptr[r] = p.ptr();
            ld[r] = p.ld();
            width[r] = p.cols();
            total += p.cols();
        }
        for (CudaTensor o : outputs) {
            if (o.cols() != total || o.rows() != outputs[0].rows()) {
                throw new IllegalArgumentException("allGatherColumns: parts " + total + " wide for an output of [" + o.rows() + ", " + o.cols() + "]");
            }
        }
        int wide = total;
        CudaContext ctx = ranks[0].context();
        ctx.op(() -> "all_gather " + wide + " m=" + outputs[0].rows() + " tp" + n, () -> {
            for (CudaTensor o : outputs) ctx.collective.gatherColumns(ctx.precision, n, o.ptr(), o.ld(), ptr, ld, width, o.rows());
        });
    }

    /** Arrives and waits for every rank (the last one enqueues the collective); throws when the group is broken. */
    private void await(int rank) {
        // the device thread must stay free to run the ranks' ops (and the collective itself): a rank waiting on it
        // would wait forever
        if (device.onOwnerThread()) {
            throw new IllegalStateException("tensor-parallel rank " + rank + ": a collective of virtual ranks was entered on the"
                    + " device thread; run the group's forward from another thread (CudaGraphRunner and TensorParallelModel do)");
        }
        Phaser b = barrier;
        int phase = b.arrive();
        try {
            if (phase < 0 || b.awaitAdvanceInterruptibly(phase) < 0) throw new GroupBrokenException(rank, cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            abort(e);
            throw new GroupBrokenException(rank, e);
        }
    }

    @Override
    public void abort(Throwable cause) {
        if (this.cause == null) this.cause = cause;
        barrier.forceTermination();
    }

    @Override
    public void reset() {
        if (barrier.isTerminated()) {
            barrier = newBarrier();
            cause = null;
        }
    }

    @Override
    public void close() {
        abort(new IllegalStateException("the tensor-parallel group is closed"));
        for (CudaBackend r : ranks) r.close();
    }
}
