package kiln.backend.cuda;

import kiln.Log;
import kiln.backend.Heads;
import kiln.backend.Tensor;
import kiln.backend.Weight;
import kiln.backend.cuda.GemmKernels.WeightArgs;
import kiln.io.DType;

/**
 * Linear layers (out = x W^T + bias), two of one input, SwiGLU's gate/up and per-head matrices, and the choice of
 * what computes them. In bf16, by rows of x:
 * <pre>
 *   2..N rows     linear_mma (linear_mma.cuh, tensor cores; kiln.cuda.linearMmaMaxRows, up to 64), bf16 weights
 *                 (fp8 with kiln.cuda.linearMmaFp8)
 *   1..8 rows     gemv2 (gemv2.cuh; split-K for few long rows, gemv_heads for MLA's per-head matrices)
 *                 or, where gemv2 does not fit or is off, gemm.cuh's first GEMV
 *   more, fp8     cuBLASLt's block-scaled FP8 GEMM with the activations quantised to fp8 (rows padded to a multiple
 *                 of 16, K a multiple of 512, where the probe found it works; from kiln.cuda.fp8LtMinRows rows ahead
 *                 of everything above), else a bf16 copy of the weight and the bf16 GEMM below
 *   more, bf16    cuBLASLt, else Kiln's tensor-core GEMM (gemm_tc)
 * </pre>
 * float32 activations always take Kiln's GEMM in the canonical summation order (batch-invariant).
 */
final class LinearLayers implements AutoCloseable {
    private static final long LT_WORKSPACE = 32L << 20;

    private final CudaContext ctx;
    /** cuBLASLt, in bf16 mode where it loads; null otherwise. */
    private final CublasLt lt;
    private final long ltWorkspace;
    /** cuBLASLt block-scaled FP8: -1 off, else bit 0 = weight scales transposed, bit 1 = activation scales row-fastest. */
    private final int fp8Layout;

    /** On the device thread: loads cuBLASLt (bf16 mode, {@link CudaOptions#useCublas}) and probes its FP8 GEMM. */
    LinearLayers(CudaContext ctx) {
        this.ctx = ctx;
        CublasLt l = null;
        long workspace = 0;
        int layout = -1;
        if (ctx.options.useCublas() && ctx.bf16()) {
            String why = CublasLt.loadError();
            if (why == null) {
                workspace = Driver.alloc(LT_WORKSPACE);
                l = new CublasLt(workspace, LT_WORKSPACE);
            } else {
                Log.warn("%s; bf16 GEMMs use Kiln's own kernels", why);
            }
        }
        lt = l;
        ltWorkspace = workspace;
        if (lt != null && ctx.options.fp8Lt()) layout = new Fp8GemmProbe(ctx, lt).run();
        fp8Layout = layout;
    }

    int fp8Layout() {
        return fp8Layout;
    }

    boolean cublas() {
        return lt != null;
    }

    void linear(Tensor x, Weight w, Weight bias, Tensor out) {
        CudaTensor xt = ctx.check(x), ot = ctx.check(out);
        CudaWeight cw = (CudaWeight) w, cb = (CudaWeight) bias;
        if (xt.cols() != cw.cols()) throw new IllegalArgumentException("linear: input has " + xt.cols() + " columns, weight expects " + cw.cols());
        if (ot.cols() != cw.rows() || ot.rows() != xt.rows()) {
            throw new IllegalArgumentException("linear: output " + ot.rows() + "x" + ot.cols() + " for " + xt.rows() + " tokens x " + cw.rows() + " rows");
        }
        if (cb != null && cb.cols() != cw.rows()) throw new IllegalArgumentException("linear: bias of " + cb.cols() + " for " + cw.rows() + " rows");
        ctx.op(() -> "linear " + cw.rows() + "x" + cw.cols() + " " + cw.dtype() + (cb != null ? "+bias" : "") + " m=" + xt.rows(),
                () -> onDevice(xt, cw, cb, ot));
    }

    /** Both layers of one input in one gemv2 launch; false when they do not fit it (the caller runs two linears). */
    boolean pair(Tensor x, Weight a, Tensor outA, Weight b, Tensor outB) {
        CudaTensor xt = ctx.check(x), oa = ctx.check(outA), ob = ctx.check(outB);
        CudaWeight wa = (CudaWeight) a, wb = (CudaWeight) b;
        int m = xt.rows(), kk = wa.cols();
        boolean one = gemv2Fits(xt, wa) && wb.cols() == kk && xt.cols() == kk && wa.dtype() == wb.dtype()
                && oa.cols() == wa.rows() && ob.cols() == wb.rows() && oa.rows() == m && ob.rows() == m;
        if (!one || mmaFits(xt, wa) && mmaFits(xt, wb)) return false;
        ctx.op(() -> "linear pair " + wa.rows() + "+" + wb.rows() + "x" + kk + " " + wa.dtype() + " m=" + m, () ->
                ctx.gemv2.gemv2Pair(m, xt.ptr(), xt.ld(), WeightArgs.of(wa), oa.ptr(), oa.ld(), wa.rows(), WeightArgs.of(wb), ob.ptr(), ob.ld(),
                        wb.rows(), kk));
        return true;
    }

    /** Can gemv2 take x W^T: bf16 mode, 1..8 rows, bf16 or fp8 weights, 16-byte aligned rows of whole loads? */
    boolean gemv2Fits(CudaTensor x, CudaWeight w) {
        return ctx.bf16() && ctx.flags.gemv2() && x.rows() >= 1 && x.rows() <= Gemv2Kernels.MAX_ROWS && (w.dtype() == DType.BF16 || w.fp8())
                && Gemv2Kernels.fits(w.cols(), w.fp8()) && x.ld() % 8 == 0 && x.ptr() % 16 == 0;
    }

    /**
     * Can linear_mma take x W^T: bf16 mode, 2 to kiln.cuda.linearMmaMaxRows rows, bf16 weights, or (kiln.cuda.linearMmaFp8)
     * fp8 in 128-wide scale blocks?
     */
    private boolean mmaFits(CudaTensor x, CudaWeight w) {
        return ctx.bf16() && x.rows() <= ctx.flags.linearMmaMaxRows() && (w.dtype() == DType.BF16 || ctx.flags.linearMmaFp8() && w.fp8() && w.blockCols() == 128)
                && LinearMmaKernels.fits(x.rows(), WeightArgs.of(w), w.cols(), x.ptr(), x.ld());
    }

    /** x W^T (+ bias) into out, on the device thread: the dispatch of the class comment. */
    void onDevice(CudaTensor x, CudaWeight w, CudaWeight bias, CudaTensor out) {
        int m = x.rows(), n = w.rows(), kk = w.cols();
        if (m == 0) return;
        long b = bias == null ? 0 : bias.ptr();
        if (ctx.bf16()) {
            boolean narrow = w.dtype() == DType.BF16 || w.fp8();
            // K a multiple of 512: on an H100, K of 128 and 384 (1 and 3 scale blocks per row) came out wrong
            boolean fp8Gemm = lt != null && w.fp8() && fp8Layout >= 0 && n % 128 == 0 && kk % 512 == 0 && w.blockRows() == 128;
            if (fp8Gemm && m >= ctx.flags.fp8LtMinRows() && fp8Lt(x, w, bias, out)) return;
            if (mmaFits(x, w)) {
                ctx.linearMma.linear(m, x.ptr(), x.ld(), WeightArgs.of(w), b, out.ptr(), out.ld(), n, kk);
                return;
            }
            if (gemv2Fits(x, w)) {
                int split = Gemv2Kernels.splitK(n, kk, w.fp8());
                if (split > 1) ctx.gemv2.gemv2SplitK(m, x.ptr(), x.ld(), WeightArgs.of(w), b, out.ptr(), out.ld(), n, kk, split);
                else ctx.gemv2.gemv2(m, x.ptr(), x.ld(), 0, WeightArgs.of(w), 0, b, out.ptr(), out.ld(), 0, n, kk, 1);
                return;
            }
            if (m <= GemmKernels.GEMV_ROWS && narrow && kk % 8 == 0 && x.ld() % 8 == 0 && x.ptr() % 16 == 0) {
                ctx.gemm.gemv(x.ptr(), x.ld(), WeightArgs.of(w), b, out.ptr(), out.ld(), m, n, kk);
                return;
            }
            if (fp8Gemm && m > 8 && m < ctx.flags.fp8LtMinRows() && fp8Lt(x, w, bias, out)) return;
            if (lt != null && m > 8 && narrow) {
                long weights = w.ptr();
                long mark = ctx.arena.mark();
                if (w.fp8()) {
                    // dequantize into a bf16 copy, then the tensor cores: at prefill sizes this pass is a few percent
                    weights = ctx.scratch(2L * n * kk, "bf16 copy of an fp8 weight");
                    ctx.elementwise.dequantFp8(w.ptr(), w.scales(), w.scaleCols(), w.blockRows(), w.blockCols(), weights, kk, n);
                }
                boolean done = lt.matmul(new CublasLt.Key(CublasLt.CUDA_R_16BF, m, n, kk, x.ld(), out.ld(), 1, 0, 0, 0), x.ptr(), weights,
                        out.ptr(), ctx.device.stream());
                ctx.arena.release(mark);
                if (done) {
                    if (bias != null) ctx.elementwise.addBias(ctx.precision, out.ptr(), out.ld(), bias.ptr(), n, m);
                    return;
                }
            }
        }
        gemm(x.ptr(), x.ld(), 0, w, 0, b, out.ptr(), out.ld(), 0, m, n, kk, 1);
    }

    /**
     * x W^T through cuBLASLt's block-scaled FP8 GEMM, which is given whole multiples of 16 rows (other row counts came
     * out wrong through it when it was first tried): the rows past the last whole 16 are padded with zero rows into a
     * scratch result whose valid rows are copied out. A batch of more rows than K runs its whole 16s straight into out
     * and pads only the rest, so the scratch never outgrows a bf16 copy of the weight. The bias, if any, is added
     * after. False when cuBLASLt declines (nothing written).
     */
    private boolean fp8Lt(CudaTensor x, CudaWeight w, CudaWeight bias, CudaTensor out) {
        if (!fp8Padded(x, w, out)) return false;
        if (bias != null) ctx.elementwise.addBias(ctx.precision, out.ptr(), out.ld(), bias.ptr(), w.rows(), x.rows());
        return true;
    }

    private boolean fp8Padded(CudaTensor x, CudaWeight w, CudaTensor out) {
        int m = x.rows(), n = w.rows(), kk = w.cols(), whole = m / 16 * 16, rest = m - whole;
        long mark = ctx.arena.mark();
        try {
            if (rest == 0) return fp8Rows(x.ptr(), x.ld(), m, m, w, out.ptr(), out.ld());
            if (whole == 0 || whole + 16 <= kk) {
                long y = ctx.scratch(2L * (whole + 16) * n, "padded fp8 GEMM result");
                if (!fp8Rows(x.ptr(), x.ld(), m, whole + 16, w, y, n)) return false;
                ctx.elementwise.copyRows(y, n, n, out.ptr(), out.ld(), m);
                return true;
            }
            if (!fp8Rows(x.ptr(), x.ld(), whole, whole, w, out.ptr(), out.ld())) return false;
            long y = ctx.scratch(2L * 16 * n, "padded fp8 GEMM result");
            if (!fp8Rows(x.ptr() + 2L * whole * x.ld(), x.ld(), rest, 16, w, y, n)) return false;
            ctx.elementwise.copyRows(y, n, n, out.ptr() + 2L * whole * out.ld(), out.ld(), rest);
            return true;
        } finally {
            ctx.arena.release(mark);
        }
    }

    /** The first {@code valid} of {@code rows} bf16 rows at x (the rest zero padding) quantised to fp8, times W^T into y. */
    private boolean fp8Rows(long x, long ldx, int valid, int rows, CudaWeight w, long y, long ldy) {
        int n = w.rows(), kk = w.cols();
        long xq = ctx.scratch((long) rows * kk, "fp8 activations"), xs = ctx.scratch(4L * rows * (kk / 128), "fp8 activation scales");
        ctx.elementwise.quantFp8(x, ldx, kk, xq, xs, rows, valid, (fp8Layout & 2) != 0);
        return lt.fp8Matmul(new CublasLt.Key(CublasLt.CUDA_R_16BF, rows, n, kk, kk, ldy, 1, 0, 0, 0), xq, xs, w.ptr(), w.ltScales(), y,
                ctx.device.stream());
    }

    /** Kiln's own GEMM: canonical summation order on the CUDA cores in float32, tensor cores in bf16. */
    void gemm(long x, long ldx, long xStride, CudaWeight w, long wStride, long bias, long out, long ldo, long oStride, int m, int n, int kk,
              int batches) {
        if (ctx.bf16()) ctx.gemm.gemmTc(x, ldx, xStride, WeightArgs.of(w), wStride, bias, out, ldo, oStride, m, n, kk, batches);
        else ctx.gemm.gemmF32(x, ldx, xStride, WeightArgs.of(w), wStride, bias, out, ldo, oStride, m, n, kk, batches);
    }

    /**
     * silu(x gate^T) * (x up^T) in one launch in bf16: linear_mma for 2..64 rows where it fits, else a GEMV for up to 8;
     * false when neither fits (the caller composes it).
     */
    boolean gateUp(Tensor x, Weight gate, Weight up, Tensor out) {
        CudaTensor xt = ctx.check(x), ot = ctx.check(out);
        CudaWeight g = (CudaWeight) gate, u = (CudaWeight) up;
        int m = xt.rows(), n = g.rows(), kk = g.cols();
        boolean mma = mmaFits(xt, g) && u.blockCols() == g.blockCols();
        boolean fused = ctx.bf16() && (m <= GemmKernels.GEMV_ROWS || mma) && g.dtype() == u.dtype() && (g.dtype() == DType.BF16 || g.fp8())
                && u.rows() == n && u.cols() == kk && kk % 8 == 0 && xt.ld() % 8 == 0 && xt.ptr() % 16 == 0 && g.blockRows() == u.blockRows()
                && xt.cols() == kk && ot.cols() == n && ot.rows() == m;
        if (!fused) return false;
        ctx.op(() -> "silu_gate_up " + n + "x" + kk + " " + g.dtype() + " m=" + m, () -> {
            if (m == 0) return;
            if (mma) {
                ctx.linearMma.gateUp(m, xt.ptr(), xt.ld(), WeightArgs.of(g), WeightArgs.of(u), ot.ptr(), ot.ld(), n, kk);
            } else if (ctx.flags.gemv2() && Gemv2Kernels.fits(kk, g.fp8())) {
                ctx.gemv2.gemv2GateUp(m, xt.ptr(), xt.ld(), WeightArgs.of(g), WeightArgs.of(u), ot.ptr(), ot.ld(), n, kk);
            } else {
                ctx.gemm.gemvGateUp(xt.ptr(), xt.ld(), WeightArgs.of(g), WeightArgs.of(u), ot.ptr(), ot.ld(), m, n, kk);
            }
        });
        return true;
    }

    /** Per head h: out_h = W_h x_h, W [heads * outWidth, inWidth] (bf16 or f32; not fp8). */
    void headLinear(Heads x, Weight w, Heads out) {
        CudaWeight cw = (CudaWeight) w;
        CudaTensor xt = ctx.check(x.tensor()), ot = ctx.check(out.tensor());
        int outWidth = out.width(), inWidth = x.width(), heads = x.count();
        if (cw.rows() != heads * outWidth || cw.cols() != inWidth || out.count() != heads) {
            throw new IllegalArgumentException("headLinear: weight " + cw.rows() + "x" + cw.cols() + " for " + heads + " heads " + inWidth + " -> " + outWidth);
        }
        if (cw.fp8()) throw new IllegalArgumentException("headLinear: fp8 per-head weights are not supported");
        DeviceHeads xh = DeviceHeads.of(xt, x), oh = DeviceHeads.of(ot, out);
        long wStride = (long) outWidth * inWidth;
        int m = xt.rows();
        ctx.op(() -> "head_linear " + heads + "x" + inWidth + "->" + outWidth + " m=" + m, () -> {
            if (m == 0) return;
            if (ctx.flags.gemv2() && ctx.bf16() && m <= Gemv2Kernels.MAX_ROWS && cw.dtype() == DType.BF16 && inWidth % 8 == 0 && xh.ptr() % 16 == 0
                    && x.stride() % 8 == 0 && xt.ld() % 8 == 0) {
                if (Gemv2Kernels.headsFit(inWidth)) {  // MLA's W_UK and W_UV: short rows, several per warp
                    ctx.gemv2.gemvHeads(m, inWidth, xh, cw.ptr(), wStride, oh, outWidth, heads);
                } else {  // all heads in one launch, a warp per output row of a head
                    ctx.gemv2.gemv2(m, xh.ptr(), xh.ld(), xh.stride(), new WeightArgs(DType.BF16, cw.ptr(), 0, 0, 1), wStride, 0, oh.ptr(), oh.ld(),
                            oh.stride(), outWidth, inWidth, heads);
                }
                return;
            }
            if (lt != null && m > 8 && cw.dtype() == DType.BF16
                    && lt.matmul(new CublasLt.Key(CublasLt.CUDA_R_16BF, m, outWidth, inWidth, xt.ld(), ot.ld(), heads, x.stride(), wStride, out.stride()),
                    xh.ptr(), cw.ptr(), oh.ptr(), ctx.device.stream())) {
                return;
            }
            gemm(xh.ptr(), xt.ld(), x.stride(), cw, wStride, 0, oh.ptr(), ot.ld(), out.stride(), m, outWidth, inWidth, heads);
        });
    }

    @Override
    public void close() {
        if (lt != null) lt.close();
        if (ltWorkspace != 0) Driver.free(ltWorkspace);
    }
}
