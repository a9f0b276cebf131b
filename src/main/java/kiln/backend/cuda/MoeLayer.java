package kiln.backend.cuda;

import kiln.backend.Backend;
import kiln.backend.MoeRouting;
import kiln.backend.Tensor;
import kiln.backend.Weight;
import kiln.backend.cuda.GemmKernels.ExpertTable;
import kiln.io.DType;

import java.lang.foreign.MemorySegment;
import java.util.function.Supplier;

/**
 * Mixture of experts on the device: routing (fused with the router's GEMV and the alignment for decode batches),
 * the routed experts, and the weighted sum with the shared experts' output. Which kernels run the experts:
 * <pre>
 *   bf16, moeStagedMinTokens+ tokens moe_staged.cuh: grouped GEMM over 128-row tiles staged through shared memory
 *                                    (off unless kiln.cuda.moeStagedMinTokens is set)
 *   bf16, moeMmaMinTokens (8)..moeMmaMaxTokens tokens  moe_mma.cuh: tensor-core grouped GEMM over 64-row tiles
 *   bf16, a few rows per expert      the grouped GEMVs over 8-row tiles (gemv2.cuh, or gemm.cuh's first ones)
 *   bf16 prefill, eager, larger      per expert through LinearLayers (cuBLASLt), reading the expert ids back
 *   otherwise (and float32)          Kiln's grouped GEMM (gemm.cuh)
 * </pre>
 * Nothing but the per-expert prefill path waits for the device, so decode steps can be captured as CUDA graphs.
 */
final class MoeLayer {
    private final CudaContext ctx;
    private final LinearLayers linear;
    private final CudaBackend owner;
    /** moe_router_route's count of finished blocks: zero between launches (the last block resets it). */
    private final long routerDone;

    /** On the device thread (allocates the router's block counter). */
    MoeLayer(CudaContext ctx, LinearLayers linear, CudaBackend owner) {
        this.ctx = ctx;
        this.linear = linear;
        this.owner = owner;
        this.routerDone = ctx.transfers.persist(MemorySegment.ofArray(new int[1]), 4);
    }

    /** Routing from router logits, resident on the device. */
    Backend.Routing route(Tensor routerLogits, Weight scoreBias, MoeRouting r) {
        CudaTensor l = ctx.check(routerLogits);
        if (l.cols() != r.experts()) throw new IllegalArgumentException("router gave " + l.cols() + " logits for " + r.experts() + " experts");
        if (r.experts() > MoeKernels.MAX_EXPERTS || r.topK() > MoeKernels.MAX_TOP_K || r.topK() > r.experts()) {
            throw new IllegalArgumentException("routing of " + r.experts() + " experts, top " + r.topK() + " exceeds the kernel's "
                    + MoeKernels.MAX_EXPERTS + " / " + MoeKernels.MAX_TOP_K);
        }
        CudaWeight bias = (CudaWeight) scoreBias;
        MoeKernels.Gate gate = MoeKernels.Gate.of(r, bias == null ? 0 : bias.ptr());
        return ctx.opCall(() -> "moe_route " + r.experts() + "e top" + r.topK() + " m=" + l.rows(), () -> {
            int tokens = l.rows(), topK = r.topK();
            // decode: routing and the grouped GEMV's alignment (8-row tiles) in one single-block launch
            if (routeAlignFits(tokens, r)) {
                long ids = ctx.scratch(4L * tokens * topK, "expert ids"), weights = ctx.scratch(4L * tokens * topK, "expert weights");
                CudaMoe.Alignment a = alignment(tokens * topK, r.experts(), 8);
                ctx.moe.routeAlign(ctx.precision, l.ptr(), l.ld(), tokens, gate, ids, weights, a);
                return new CudaMoe.Routing(owner, tokens, topK, ids, weights, a);
            }
            long ids = ctx.scratch(4L * tokens * topK, "expert ids"), weights = ctx.scratch(4L * tokens * topK, "expert weights");
            ctx.moe.route(ctx.precision, l.ptr(), l.ld(), gate, ids, weights, tokens);
            return new CudaMoe.Routing(owner, tokens, topK, ids, weights, null);
        });
    }

    /** Can one block route and align (moe_route_align_block): bf16, up to 8 tokens, at most 32 groups when group-limited. */
    private boolean routeAlignFits(int tokens, MoeRouting r) {
        return ctx.bf16() && tokens <= MoeKernels.ROUTE_ALIGN_MAX_TOKENS && ctx.flags.routeAlign()
                && (r.method() != MoeRouting.Method.GROUP_LIMITED || r.groups() <= MoeKernels.MAX_ALIGN_GROUPS);
    }

    /** The router's GEMV, routing and alignment in one launch (decode batches, bf16 router); null when it does not fit. */
    Backend.Routing routeFused(Tensor x, Weight router, Tensor logits, Weight scoreBias, MoeRouting r) {
        CudaTensor xt = ctx.check(x), l = ctx.check(logits);
        CudaWeight w = (CudaWeight) router;
        int tokens = xt.rows();
        boolean fused = ctx.flags.fuseDecode() && routeAlignFits(tokens, r) && w.dtype() == DType.BF16 && linear.gemv2Fits(xt, w) && w.rows() == r.experts()
                && l.rows() == tokens && l.cols() == r.experts() && r.experts() <= MoeKernels.MAX_EXPERTS && r.topK() <= MoeKernels.MAX_TOP_K
                && r.topK() <= r.experts();
        if (!fused) return null;
        CudaWeight bias = (CudaWeight) scoreBias;
        MoeKernels.Gate gate = MoeKernels.Gate.of(r, bias == null ? 0 : bias.ptr());
        return ctx.opCall(() -> "router + moe_route " + r.experts() + "x" + w.cols() + " top" + r.topK() + " m=" + tokens, () -> {
            int split = Gemv2Kernels.splitK(w.rows(), w.cols(), false), topK = r.topK();
            long ids = ctx.scratch(4L * tokens * topK, "expert ids"), weights = ctx.scratch(4L * tokens * topK, "expert weights");
            CudaMoe.Alignment a = alignment(tokens * topK, r.experts(), 8);
            ctx.fused.routerRoute(tokens, xt.ptr(), xt.ld(), w.ptr(), w.cols(), split, l.ptr(), l.ld(), routerDone, gate, ids, weights, a);
            return new CudaMoe.Routing(owner, tokens, topK, ids, weights, a);
        });
    }

    /** Scratch for moe_align's outputs: {@code assignments} (token, choice) pairs into tiles of {@code tileRows}. */
    private CudaMoe.Alignment alignment(int assignments, int experts, int tileRows) {
        int maxTiles = Math.min(assignments, CudaContext.ceilDiv(assignments, tileRows) + experts);
        return new CudaMoe.Alignment(experts, tileRows, maxTiles, ctx.scratch(4L * assignments, "moe order"), ctx.scratch(4L * assignments, "moe positions"),
                ctx.scratch(4L * maxTiles, "moe tiles"), ctx.scratch(4L * maxTiles, "moe tiles"), ctx.scratch(4L * maxTiles, "moe tiles"),
                ctx.scratch(4, "moe tile count"));
    }

    /**
     * Runs {@code work} on the device's side stream inside captured decode graphs of up to 8 tokens (DeepSeek's
     * shared experts beside the router and routed experts). Eager forwards stay on one stream: there the extra event
     * record and wait per layer cost more than the overlap gains, and at larger batches both branches compete for
     * bandwidth; the branches share cuBLASLt's workspace, which is safe only while neither calls cuBLASLt (up to 8
     * tokens: gemv2 kernels). docs/cuda.md has the measurements.
     */
    Tensor concurrently(Supplier<Tensor> work) {
        if (!ctx.flags.sideStream() || !ctx.capturing() || ctx.batch().numTokens() > 8) return work.get();
        return ctx.device.call(() -> ctx.device.onSide(work));  // streams and events belong to the device's thread
    }

    /** out = the routed experts' weighted sum (+ plus, which may come from the side stream). */
    void moe(Tensor x, Backend.Routing routing, Backend.Experts experts, Tensor plus, Tensor out) {
        CudaTensor xt = ctx.check(x), ot = ctx.check(out), pt = plus == null ? null : ctx.check(plus);
        if (pt != null && (pt.rows() != ot.rows() || pt.cols() != ot.cols())) {
            throw new IllegalArgumentException("moe: addend " + pt.rows() + "x" + pt.cols() + " for output " + ot.rows() + "x" + ot.cols());
        }
        CudaMoe.Routing r = (CudaMoe.Routing) routing;
        CudaMoe.Experts e = (CudaMoe.Experts) experts;
        if (xt.cols() != e.hidden() || ot.cols() != e.hidden() || r.tokens() != xt.rows()) {
            throw new IllegalArgumentException("moe: input " + xt.rows() + "x" + xt.cols() + " for experts of hidden " + e.hidden() + ", routing of " + r.tokens());
        }
        ctx.op(() -> "moe " + e.count() + "e " + e.hidden() + "x" + e.inter() + " " + e.dtype() + " top" + r.topK() + " m=" + xt.rows(), () -> {
            if (xt.rows() == 0) return;
            long mark = ctx.arena.mark();
            experts(xt, r, e, pt, ot);
            ctx.arena.release(mark);
        });
    }

    private void experts(CudaTensor xt, CudaMoe.Routing r, CudaMoe.Experts e, CudaTensor pt, CudaTensor ot) {
        int tokens = xt.rows(), topK = r.topK(), assignments = tokens * topK, inter = e.inter(), hidden = e.hidden();
        ExpertTable gate = table(e, e.gate(), e.gateScales(), hidden), up = table(e, e.up(), e.upScales(), hidden),
                down = table(e, e.down(), e.downScales(), inter);
        if (stagedFits(xt, e, tokens)) {  // each active expert read once per 128 rows, x rows once per 128 columns
            CudaMoe.Alignment a = aligned(r, e.count(), assignments, MoeStagedKernels.TILE_ROWS);
            CudaTensor g = ctx.tensor(assignments, inter), y = ctx.tensor(assignments, hidden);
            ctx.moeStaged.moeStagedGateUp(xt.ptr(), xt.ld(), a.perm(), topK, gate, up, a, g.ptr(), g.ld(), inter, hidden);
            ctx.moeStaged.moeStaged(g.ptr(), g.ld(), 0, 1, down, a, y.ptr(), y.ld(), hidden, inter);
            combine(y, a.inv(), r, hidden, ot, pt, false);
            return;
        }
        boolean mma = mmaFits(xt, e, tokens);
        // decode-sized groups (a few rows per expert) take the memory-bound grouped GEMV in bf16 mode
        boolean gemv = !mma && ctx.bf16() && (e.dtype() == DType.BF16 || e.dtype() == DType.F8_E4M3)
                && hidden % 8 == 0 && inter % 8 == 0 && xt.ld() % 8 == 0 && assignments <= 16 * e.count();
        CudaMoe.Alignment a = aligned(r, e.count(), assignments, gemv ? GemmKernels.GEMV_ROWS : GemmKernels.TILE);
        if (mma) {  // each active expert read once per 64 rows
            CudaTensor g = ctx.tensor(assignments, inter), y = ctx.tensor(assignments, hidden);
            ctx.moeMma.moeMmaGateUp(xt.ptr(), xt.ld(), a.perm(), topK, gate, up, a, g.ptr(), g.ld(), inter, hidden);
            ctx.moeMma.moeMma(g.ptr(), g.ld(), 0, 1, down, a, y.ptr(), y.ld(), hidden, inter);
            combine(y, a.inv(), r, hidden, ot, pt, false);
            return;
        }
        if (!gemv && ctx.bf16() && linear.cublas() && ctx.flags.moeByExpert() && !ctx.capturing() && !ctx.batch().isDecode()
                && (e.dtype() == DType.BF16 || e.dtype() == DType.F8_E4M3)) {
            byExpert(xt, r, e, ot, pt, a.perm(), a.inv());
            return;
        }
        if (e.dtype() != DType.F32 && e.dtype() != DType.BF16 && e.dtype() != DType.F8_E4M3) throw new IllegalArgumentException("experts of " + e.dtype());
        CudaTensor g = ctx.tensor(assignments, inter), y = ctx.tensor(assignments, hidden);
        // gemv2.cuh: one row per tile for a single token (every choice is another expert), else up to 8
        boolean v2 = gemv && ctx.flags.gemv2() && (e.dtype() == DType.BF16 || hidden % 16 == 0 && inter % 16 == 0);
        if (v2) {  // gate, up and SwiGLU in one pass over x and one launch; the pointer tables copied early for one token
            int tableExperts = tokens == 1 && e.count() <= Gemv2Kernels.MOE_TABLE_MAX ? e.count() : 0;
            ctx.gemv2.moeGemv2GateUp(tokens, xt.ptr(), xt.ld(), a.perm(), topK, gate, up, a, g.ptr(), g.ld(), inter, hidden, tableExperts);
            ctx.gemv2.moeGemv2(tokens, g.ptr(), g.ld(), 0, 1, down, a, y.ptr(), y.ld(), hidden, inter);
        } else if (gemv) {
            ctx.gemm.moeGemvGateUp(xt.ptr(), xt.ld(), a.perm(), topK, gate, up, a, g.ptr(), g.ld(), inter, hidden);
            ctx.gemm.moeGemv(g.ptr(), g.ld(), 0, 1, down, a, y.ptr(), y.ld(), hidden, inter);
        } else {
            CudaTensor u = ctx.tensor(assignments, inter);
            moeGemm(xt.ptr(), xt.ld(), a.perm(), topK, gate, a, g.ptr(), g.ld(), inter, hidden);
            moeGemm(xt.ptr(), xt.ld(), a.perm(), topK, up, a, u.ptr(), u.ld(), inter, hidden);
            ctx.elementwise.siluMul(ctx.precision, g.ptr(), g.ld(), u.ptr(), u.ld(), g.ptr(), g.ld(), inter, assignments);
            moeGemm(g.ptr(), g.ld(), 0, 1, down, a, y.ptr(), y.ld(), hidden, inter);
        }
        combine(y, a.inv(), r, hidden, ot, pt, v2);
    }

    private void moeGemm(long x, long ldx, long rowIndex, int rowDiv, ExpertTable w, CudaMoe.Alignment a, long out, long ldo, int n, int kk) {
        if (ctx.bf16()) ctx.gemm.moeGemmTc(x, ldx, rowIndex, rowDiv, w, a, out, ldo, n, kk);
        else ctx.gemm.moeGemmF32(x, ldx, rowIndex, rowDiv, w, a, out, ldo, n, kk);
    }

    /** The routing's alignment into tiles of {@code tileRows}: the one routing made, or a new one when that has other tiles. */
    private CudaMoe.Alignment aligned(CudaMoe.Routing r, int experts, int assignments, int tileRows) {
        CudaMoe.Alignment a = r.aligned();
        if (a != null && a.tileRows() == tileRows && a.experts() == experts) return a;
        a = alignment(assignments, experts, tileRows);
        ctx.moe.align(r.ids(), assignments, a);
        return a;
    }

    /** One projection's pointer tables: scales in blocks of 128 columns of its input ({@code k} wide). */
    private static ExpertTable table(CudaMoe.Experts e, long ptrs, long scales, int k) {
        return new ExpertTable(e.dtype(), ptrs, scales, CudaContext.ceilDiv(k, 128), e.blockRows());
    }

    /**
     * Can moe_staged take this call? bf16 mode, bf16 or fp8 experts (128-row blocks), from kiln.cuda.moeStagedMinTokens
     * tokens (0: never), K a multiple of 32, aligned x.
     */
    private boolean stagedFits(CudaTensor x, CudaMoe.Experts e, int tokens) {
        int min = ctx.flags.moeStagedMinTokens();
        return min > 0 && tokens >= min && ctx.bf16() && MoeStagedKernels.fits(e.dtype(), e.blockRows(), e.hidden(), e.inter()) && x.ld() % 8 == 0
                && x.ptr() % 16 == 0;
    }

    /**
     * Can the tensor-core grouped kernel take this call? bf16 mode, bf16 or fp8 (128-wide blocks) experts, from
     * kiln.cuda.moeMmaMinTokens to kiln.cuda.moeMmaMaxTokens tokens, K of both projections a multiple of 8 loads, 16-byte aligned rows of x.
     */
    private boolean mmaFits(CudaTensor x, CudaMoe.Experts e, int tokens) {
        if (!ctx.flags.moeMma() || !ctx.bf16() || tokens < ctx.flags.moeMmaMinTokens() || tokens > ctx.flags.moeMmaMaxTokens()) return false;
        int kAlign = MoeMmaKernels.kAlign(e.dtype());
        return kAlign > 0 && e.hidden() % kAlign == 0 && e.inter() % kAlign == 0 && x.ld() % 8 == 0 && x.ptr() % 16 == 0
                && (e.dtype() != DType.F8_E4M3 || e.blockRows() % 8 == 0);
    }

    /**
     * out[t] = the routing-weighted sum of the expert rows y (+ plus[t], which may come from the side stream).
     * earlyRouting: y comes from moe_gemv2's down projection, whose launch implies the routing has finished, so the
     * combine reads the routing before its wait.
     */
    private void combine(CudaTensor y, long inv, CudaMoe.Routing r, int hidden, CudaTensor out, CudaTensor plus, boolean earlyRouting) {
        if (plus != null) ctx.device.joinSide();
        ctx.moe.combine(ctx.precision, y.ptr(), y.ld(), inv, r.weights(), r.topK(), hidden, out.ptr(), out.ld(), plus == null ? 0 : plus.ptr(),
                plus == null ? 0 : plus.ld(), earlyRouting, r.tokens());
    }

    /**
     * Prefill-sized MoE in bf16: the (token, choice) rows gathered in expert order, then per expert its gate and up
     * projections, SwiGLU and down projection as ordinary linear layers (cuBLASLt: block-scaled FP8 or bf16 tensor
     * cores), then the weighted sum per token. Reads the expert ids back to the host (one synchronisation per
     * MoE layer: prefill only, never captured). Row counts above 8 are padded to a multiple of 16 (cuBLASLt's FP8
     * GEMM wants aligned M): the padding rows read the next expert's inputs and write into the next expert's
     * outputs before that expert overwrites them, experts running in ascending order; the buffers have 16 spare rows.
     */
    private void byExpert(CudaTensor x, CudaMoe.Routing r, CudaMoe.Experts e, CudaTensor out, CudaTensor plus, long perm, long inv) {
        int topK = r.topK(), assignments = r.tokens() * topK, hidden = e.hidden(), inter = e.inter();
        int[] ids = ctx.transfers.downloadInts(r.ids(), assignments);
        int[] count = new int[e.count()];
        for (int id : ids) {
            if (id < 0 || id >= count.length) throw new CudaException("moe: the router chose expert " + id + " of " + count.length + " (device fault?)");
            count[id]++;
        }
        CudaTensor xs = ctx.tensor(assignments + 16, hidden), g = ctx.tensor(assignments + 16, inter), u = ctx.tensor(assignments + 16, inter),
                y = ctx.tensor(assignments + 16, hidden);
        ctx.elementwise.gatherRowsDiv(ctx.precision, x.ptr(), x.ld(), perm, topK, hidden, xs.ptr(), xs.ld(), assignments);
        CudaWeight[] w = e.weights();
        for (int pass = 0; pass < 2; pass++) {
            int start = 0;
            for (int ex = 0; ex < e.count(); ex++) {
                int n = count[ex];
                if (n == 0) continue;
                int rows = n <= 8 ? n : (n + 15) / 16 * 16;
                if (pass == 0) {
                    linear.onDevice(xs.rowRange(start, rows), w[3 * ex], null, g.rowRange(start, rows));
                    linear.onDevice(xs.rowRange(start, rows), w[3 * ex + 1], null, u.rowRange(start, rows));
                } else {
                    linear.onDevice(g.rowRange(start, rows), w[3 * ex + 2], null, y.rowRange(start, rows));
                }
                start += n;
            }
            if (pass == 0) ctx.elementwise.siluMul(ctx.precision, g.ptr(), g.ld(), u.ptr(), u.ld(), g.ptr(), g.ld(), inter, assignments);
        }
        combine(y, inv, r, hidden, out, plus, false);
    }
}
