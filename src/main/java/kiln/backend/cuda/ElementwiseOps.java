package kiln.backend.cuda;

import kiln.backend.Heads;
import kiln.backend.Rope;
import kiln.backend.Tensor;
import kiln.backend.Weight;
import kiln.backend.cuda.ElementwiseKernels.RopeHeads;
import kiln.backend.cuda.ElementwiseKernels.RopeTable;
import kiln.io.DType;

import java.lang.foreign.MemorySegment;
import java.util.IdentityHashMap;
import java.util.Map;

/** Embedding, RMSNorm (with the residual add folded in), adds, SwiGLU's product, ropes and row gathers. */
final class ElementwiseOps {
    /** The generic rmsnorm kernel's widest row (32 values per thread of 256). */
    private static final int RMSNORM_MAX_COLS = 32 * 256;

    private final CudaContext ctx;
    private final Map<float[], Long> ropeTables = new IdentityHashMap<>();

    ElementwiseOps(CudaContext ctx) {
        this.ctx = ctx;
    }

    void embed(Weight table, Tensor out) {
        CudaWeight w = (CudaWeight) table;
        CudaTensor o = ctx.check(out);
        int[] tokens = ctx.batch().tokens();
        // a future token (< 0, ForwardBatch checked its row) is an id the model sampled, resolved on the device by now
        for (int t : tokens) {
            if (t >= w.rows() || t < 0 && ctx.batch().previous() == null) {
                throw new IllegalArgumentException("token id " + t + " outside the vocabulary [0, " + w.rows() + ")");
            }
        }
        if (w.dtype() != DType.BF16 && w.dtype() != DType.F32) throw new IllegalArgumentException("embedding of " + w.dtype() + " is not supported on CUDA");
        ctx.op(() -> "embed m=" + tokens.length, () ->
                ctx.elementwise.embed(ctx.precision, w.dtype(), w.ptr(), ctx.meta.tokens(), w.cols(), o.ptr(), o.ld(), tokens.length));
    }

    /** out = (x += delta) / rms * w; delta may be null. */
    void rmsNorm(Tensor x, Tensor delta, Weight weight, float eps, Tensor out) {
        CudaTensor xt = ctx.check(x), d = delta == null ? null : ctx.check(delta), o = ctx.check(out);
        CudaWeight w = (CudaWeight) weight;
        if (w.cols() != xt.cols()) throw new IllegalArgumentException("rmsNorm: weight has " + w.cols() + " values for " + xt.cols() + " columns");
        if (xt.cols() > RMSNORM_MAX_COLS) throw new IllegalArgumentException("rmsNorm over " + xt.cols() + " columns exceeds the kernel's " + RMSNORM_MAX_COLS);
        boolean vec = ctx.bf16() && ElementwiseKernels.rmsnormVecFits(xt.cols()) && w.ptr() % 16 == 0 && ctx.aligned16(xt) && ctx.aligned16(o)
                && (d == null || ctx.aligned16(d));
        long dp = d == null ? 0 : d.ptr(), dld = d == null ? 0 : d.ld();
        ctx.op(() -> (d == null ? "rmsnorm " : "add_rmsnorm ") + xt.cols() + " m=" + xt.rows(), () -> {
            if (vec) ctx.elementwise.rmsnormVec(xt.ptr(), xt.ld(), dp, dld, w.ptr(), eps, o.ptr(), o.ld(), xt.cols(), xt.rows());
            else ctx.elementwise.rmsnorm(ctx.precision, xt.ptr(), xt.ld(), dp, dld, w.ptr(), eps, o.ptr(), o.ld(), xt.cols(), xt.rows());
        });
    }

    void add(Tensor acc, Tensor x) {
        CudaTensor a = ctx.check(acc), b = ctx.check(x);
        ctx.op(() -> "add " + a.cols() + " m=" + a.rows(), () -> ctx.elementwise.add(ctx.precision, a.ptr(), a.ld(), b.ptr(), b.ld(), a.cols(), a.rows()));
    }

    void siluMul(Tensor gate, Tensor up, Tensor out) {
        CudaTensor g = ctx.check(gate), u = ctx.check(up), o = ctx.check(out);
        ctx.op(() -> "silu_mul " + g.cols() + " m=" + g.rows(), () ->
                ctx.elementwise.siluMul(ctx.precision, g.ptr(), g.ld(), u.ptr(), u.ld(), o.ptr(), o.ld(), g.cols(), g.rows()));
    }

    void rope(Heads x, Rope rope) {
        CudaTensor t = ctx.check(x.tensor());
        int half = rope.invFreq().length;
        if (x.width() != 2 * half) throw new IllegalArgumentException("rope over " + x.width() + " columns, rope dim " + 2 * half);
        ctx.op(() -> "rope " + x.count() + "x" + x.width() + " m=" + t.rows(), () ->
                ctx.elementwise.rope(ctx.precision, ropeHeads(t, x), ropeTable(rope), t.rows()));
    }

    /** Both head sets in one launch; false when they do not fit it (different rows or widths). */
    boolean ropePair(Heads a, Heads b, Rope rope) {
        CudaTensor ta = ctx.check(a.tensor()), tb = ctx.check(b.tensor());
        int half = rope.invFreq().length;
        if (a.width() != 2 * half || b.width() != 2 * half || ta.rows() != tb.rows()) return false;
        ctx.op(() -> "rope " + a.count() + "+" + b.count() + "x" + a.width() + " m=" + ta.rows(), () ->
                ctx.elementwise.rope2(ctx.precision, ropeHeads(ta, a), ropeHeads(tb, b), ropeTable(rope), ta.rows()));
        return true;
    }

    static RopeHeads ropeHeads(CudaTensor t, Heads h) {
        return new RopeHeads(t.ptr(), t.ld(), h.count(), h.stride(), h.offset());
    }

    /** The rope's table on the device: the batch's positions and the inverse frequencies (uploaded once per rope). */
    RopeTable ropeTable(Rope rope) {
        Long table = ropeTables.get(rope.invFreq());
        if (table == null) {
            table = ctx.transfers.persist(rope.invFreq());
            ropeTables.put(rope.invFreq(), table);
        }
        return new RopeTable(ctx.meta.positions(), table, rope.invFreq().length, rope.attentionFactor(), rope.interleaved());
    }

    /** Rows {@code rows} of x into a new tensor; the batch's logit rows come from the batch description. */
    Tensor gatherRows(Tensor x, int[] rows) {
        return ctx.opCall(() -> "gather_rows " + x.cols() + " m=" + rows.length, () -> {
            CudaTensor src = (CudaTensor) x;
            CudaTensor out = ctx.tensor(rows.length, src.cols());
            long index;
            if (ctx.currentBatch() != null && rows == ctx.currentBatch().logitRows()) {
                index = ctx.meta.logitRows();
            } else {
                index = ctx.scratch(4L * rows.length, "row indices");
                ctx.transfers.uploadAsync(index, MemorySegment.ofArray(rows), 4L * rows.length);
            }
            ctx.elementwise.gatherRows(ctx.precision, src.ptr(), src.ld(), index, src.cols(), out.ptr(), out.ld(), rows.length, 256);
            return out;
        });
    }
}
