package kiln.backend.cpu;

import kiln.backend.Backend;
import kiln.backend.GroupBrokenException;
import kiln.backend.RankGroup;

import java.util.concurrent.Phaser;

/**
 * Tensor-parallel ranks inside one process: one {@link CpuBackend} per rank, each driven by its own thread, meeting
 * at a barrier in every collective. A rank posts its tensor, all wait until every rank has posted, each does its
 * share of the work reading the others' tensors, and all wait again before anyone goes on (so no tensor changes
 * while another rank reads it, and no post is overwritten before it was read).
 *
 * <p>All-reduce: rank r sums its run of the elements over the ranks in rank order and writes each sum into every
 * rank's tensor, so all ranks hold the same bits. All-gather: each rank copies every part into its own output.
 *
 * <p>A failed rank breaks the group ({@link #abort}): the barrier is terminated, and every rank waiting in or later
 * entering a collective throws {@link GroupBrokenException} until {@link #reset}.
 */
public final class CpuRanks implements RankGroup {
    private final CpuBackend[] ranks;
    private final CpuTensor[] posted;
    private volatile Phaser barrier;
    private volatile Throwable cause;

    CpuRanks(int size, boolean mhaPrefill, boolean fp8KvCache) {
        if (size < 1) throw new IllegalArgumentException("a tensor-parallel group needs at least one rank, not " + size);
        ranks = new CpuBackend[size];
        posted = new CpuTensor[size];
        barrier = new Phaser(size);
        for (int r = 0; r < size; r++) ranks[r] = new CpuBackend(mhaPrefill, fp8KvCache, this, r);
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
    public void abort(Throwable cause) {
        if (this.cause == null) this.cause = cause;
        barrier.forceTermination();
    }

    @Override
    public void reset() {
        if (barrier.isTerminated()) {
            barrier = new Phaser(ranks.length);
            cause = null;
        }
    }

    void allReduceSum(int rank, CpuTensor t) {
        Phaser b = barrier;
        posted[rank] = t;
        await(b, rank);
        int rows = t.rows(), cols = t.cols(), n = ranks.length;
        for (CpuTensor o : posted) {
            if (o.rows() != rows || o.cols() != cols) {
                throw new IllegalArgumentException("allReduceSum: rank " + rank + " has [" + rows + ", " + cols
                        + "], another rank [" + o.rows() + ", " + o.cols() + "]");
            }
        }
        long total = (long) rows * cols, from = total * rank / n, to = total * (rank + 1) / n;
        for (long e = from; e < to; ) {
            int row = (int) (e / cols), c0 = (int) (e % cols), c1 = (int) Math.min(cols, c0 + (to - e));
            for (int c = c0; c < c1; c++) {
                float sum = posted[0].data()[posted[0].at(row, c)];
                for (int k = 1; k < n; k++) sum += posted[k].data()[posted[k].at(row, c)];
                for (CpuTensor o : posted) o.data()[o.at(row, c)] = sum;
            }
            e += c1 - c0;
        }
        await(b, rank);
    }

    void allGatherColumns(int rank, CpuTensor part, CpuTensor out) {
        Phaser b = barrier;
        posted[rank] = part;
        await(b, rank);
        int width = 0;
        for (CpuTensor p : posted) {
            if (p.rows() != out.rows()) {
                throw new IllegalArgumentException("allGatherColumns: parts of " + p.rows() + " rows for " + out.rows());
            }
            width += p.cols();
        }
        if (width != out.cols()) throw new IllegalArgumentException("allGatherColumns: parts " + width + " wide for " + out.cols());
        int at = 0;
        for (CpuTensor p : posted) {
            for (int r = 0; r < p.rows(); r++) System.arraycopy(p.data(), p.at(r, 0), out.data(), out.at(r, at), p.cols());
            at += p.cols();
        }
        await(b, rank);
    }

    /** Waits until every rank has arrived; throws when the group is (or becomes) broken. */
    private void await(Phaser b, int rank) {
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
    public void close() {
        abort(new IllegalStateException("the tensor-parallel group is closed"));
        for (CpuBackend r : ranks) r.close();
    }
}
