package kiln.backend.cuda;

import kiln.backend.Backend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * Tensor-parallel ranks on separate GPUs through NCCL: rank r is a {@link CudaBackend} on GPU base + r (its own
 * device thread, context and stream; rank 0 shares the GPU of the backend the group is made like), with its own NCCL
 * communicator, made by {@code ncclCommInitRank} on every rank's device thread at once from one unique id. A
 * collective is enqueued on the rank's own stream and returns at once: the ranks meet inside NCCL's kernels, so a
 * rank's decode step captured as a CUDA graph holds its collectives too, and the ranks' graphs meet when every rank
 * replays its own.
 *
 * <p>NCCL's sum order depends on its algorithm and the rank count, not on Kiln's rank order: results agree with the
 * CPU's ranks within rounding, and every rank ends with the same bits. The all-gather collects every rank's part
 * contiguously into scratch memory, then one launch places the parts side by side in the rank's output.
 *
 * <p>A group of one rank runs its collectives through NCCL too (that is how NCCL is checked on a machine with one
 * GPU). A failed rank cannot be waited out inside NCCL: {@link #abort} aborts every communicator, which ends the
 * group (a later forward fails until the model is loaded again).
 */
final class NcclRanks implements CudaRankGroup {
    private final Nccl nccl;
    private final CudaBackend[] ranks;
    private final MemorySegment[] comms;
    private volatile Throwable cause;

    NcclRanks(CudaBackend like, int size, Nccl nccl) {
        if (size < 1) throw new IllegalArgumentException("a tensor-parallel group needs at least one rank, not " + size);
        this.nccl = nccl;
        int base = like.options().device();
        int present = like.device().call(Driver::deviceCount);
        if (base + size > present) {
            throw new kiln.config.ConfigException("--tp " + size + " with NCCL ranks needs GPUs " + base + ".." + (base + size - 1)
                    + ", but " + present + " GPU(s) are present (-Dkiln.cuda.tpRanks=virtual runs every rank on one GPU: for checking"
                    + " the tensor-parallel path, no speed-up)");
        }
        ranks = new CudaBackend[size];
        comms = new MemorySegment[size];
        List<CudaDevice> devices = new ArrayList<>();
        try {
            devices.add(like.device());
            for (int r = 1; r < size; r++) devices.add(new CudaDevice(base + r));
            MemorySegment id = nccl.uniqueId(Arena.ofAuto());
            // ncclCommInitRank returns only once every rank has called it: each on its own device thread, at once
            List<CompletableFuture<MemorySegment>> init = new ArrayList<>();
            for (int r = 0; r < size; r++) {
                int rank = r;
                CudaDevice d = devices.get(r);
                init.add(CompletableFuture.supplyAsync(() -> d.call(() -> nccl.commInitRank(size, id, rank)),
                        task -> Thread.ofPlatform().daemon().name("kiln-nccl-init-" + rank).start(task)));
            }
            for (int r = 0; r < size; r++) comms[r] = join(init.get(r));
            for (int r = 0; r < size; r++) {
                ranks[r] = new CudaBackend(devices.get(r), r > 0, like.options().withDevice(base + r), this, r);
            }
        } catch (RuntimeException | Error e) {
            for (int r = 0; r < size; r++) {
                if (ranks[r] != null) ranks[r].close();
                else if (r > 0 && r < devices.size()) devices.get(r).close();
            }
            destroyComms(false);
            throw e;
        }
        kiln.Log.info("NCCL %s (%d): %d rank(s) on GPUs %d..%d", nccl.library(), nccl.version(), size, base, base + size - 1);
    }

    private static MemorySegment join(CompletableFuture<MemorySegment> f) {
        try {
            return f.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw e;
        }
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
        return 1;
    }

    private void checkUsable(int rank) {
        if (cause != null) {
            throw new IllegalStateException("tensor-parallel rank " + rank + ": the NCCL group was aborted after a failure (" + cause + ")", cause);
        }
    }

    private static void checkContiguous(CudaTensor t, String what) {
        if (t.ld() != t.cols()) {
            throw new IllegalArgumentException(what + ": NCCL needs contiguous rows, not a view of " + t.cols() + " columns in rows of " + t.ld());
        }
    }

    @Override
    public void allReduceSum(int rank, CudaTensor t) {
        checkUsable(rank);
        checkContiguous(t, "allReduceSum");
        CudaContext ctx = ranks[rank].context();
        ctx.op(() -> "all_reduce " + t.cols() + " m=" + t.rows() + " nccl" + ranks.length,
                () -> nccl.allReduceSum(t.ptr(), t.ptr(), (long) t.rows() * t.cols(), Nccl.dtype(ctx.precision), comms[rank], ctx.device.stream()));
    }

    @Override
    public void allGatherColumns(int rank, CudaTensor part, CudaTensor out) {
        checkUsable(rank);
        checkContiguous(part, "allGatherColumns");
        int n = ranks.length;
        if (out.cols() != part.cols() * n || out.rows() != part.rows()) {
            throw new IllegalArgumentException("allGatherColumns: parts of [" + part.rows() + ", " + part.cols() + "] on " + n
                    + " ranks for an output of [" + out.rows() + ", " + out.cols() + "]");
        }
        CudaContext ctx = ranks[rank].context();
        ctx.op(() -> "all_gather " + out.cols() + " m=" + out.rows() + " nccl" + n, () -> {
            long count = (long) part.rows() * part.cols(), bytes = count * part.elementBytes();
            long scratch = ctx.scratch(bytes * n, "the all-gather's parts");
            nccl.allGather(part.ptr(), scratch, count, Nccl.dtype(ctx.precision), comms[rank], ctx.device.stream());
            long[] ptr = new long[n], ld = new long[n];
            int[] width = new int[n];
            for (int r = 0; r < n; r++) {
                ptr[r] = scratch + r * bytes;
                ld[r] = part.cols();
                width[r] = part.cols();
            }
            ctx.collective.gatherColumns(ctx.precision, n, out.ptr(), out.ld(), ptr, ld, width, out.rows());
        });
    }

    /** Every rank's {@code t} becomes rank {@code root}'s (each rank calls it with its own tensor). */
    void broadcast(int rank, CudaTensor t, int root) {
        checkUsable(rank);
        checkContiguous(t, "broadcast");
        CudaContext ctx = ranks[rank].context();
        ctx.op(() -> "broadcast " + t.cols() + " m=" + t.rows() + " nccl" + ranks.length,
                () -> nccl.broadcast(t.ptr(), t.ptr(), (long) t.rows() * t.cols(), Nccl.dtype(ctx.precision), root, comms[rank], ctx.device.stream()));
    }

    @Override
    public void abort(Throwable cause) {
        if (this.cause != null) return;
        this.cause = cause;
        destroyComms(true);
    }

    /** NCCL has no way back from a failed collective: the group stays aborted. */
    @Override
    public void reset() {
    }

    private synchronized void destroyComms(boolean abort) {
        for (int r = 0; r < comms.length; r++) {
            MemorySegment c = comms[r];
            if (c == null) continue;
            comms[r] = null;
            try {
                if (abort) nccl.commAbort(c);
                else nccl.commDestroy(c);
            } catch (RuntimeException ignored) {
                // closing: the first failure is the one reported
            }
        }
    }

    @Override
    public void close() {
        if (cause == null) {
            // ncclCommDestroy may wait for the other ranks' (it finalizes the communicator): every rank at once
            List<CompletableFuture<Void>> done = new ArrayList<>();
            for (int r = 0; r < ranks.length; r++) {
                CudaBackend b = ranks[r];
                MemorySegment c = comms[r];
                comms[r] = null;
                if (c == null) continue;
                done.add(CompletableFuture.runAsync(() -> b.device().run(() -> {
                    Driver.synchronize(b.device().stream(), "NCCL group close");
                    nccl.commDestroy(c);
                }), task -> Thread.ofPlatform().daemon().name("kiln-nccl-close").start(task)));
            }
            done.forEach(f -> f.exceptionally(e -> null).join());
        }
        destroyComms(true);
        for (CudaBackend r : ranks) r.close();
    }
}
