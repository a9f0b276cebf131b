package kiln.backend.cuda;

import kiln.backend.cuda.ElementwiseKernels.RopeHeads;
import kiln.backend.cuda.ElementwiseKernels.RopeTable;

/**
 * Launchers of fused_decode.cuh's entry points (bf16, up to 8 tokens): kernels that run several headers' device
 * code in one launch so a DeepSeek decode layer has fewer launches. Each replaces a plain sequence of launches
 * ({@link CudaFlags#fuseDecode} off) that CudaKernelCheck keeps checked.
 */
final class FusedDecodeKernels {
    /** The block size of all three; grid roles of mla_norm_rope (rope set a, rope set b, the latent's norm). */
    static final int THREADS = 256, NORM_ROPE_ROLES = 3;

    /** MLA's latent RMSNorm: out = x / rms(x) * w over {@code cols} columns. */
    record LatentNorm(long x, long ldx, long w, float eps, long out, long ldo, int cols) {}

    private final KernelLauncher k;

    FusedDecodeKernels(KernelLauncher k) {
        this.k = k;
    }

    /**
     * The router's GEMV (gemv2_splitk, bf16 weights [experts, K], {@code split} warps per row) into {@code logits},
     * then, in the block that finishes last, route + align (moe_route_align) into 8-row tiles. {@code done} counts
     * finished blocks: zero between launches (the last block resets it).
     */
    void routerRoute(int tokens, long x, long ldx, long w, int kk, int split, long logits, long ldl, long done, MoeKernels.Gate gate, long ids,
                     long weights, CudaMoe.Alignment a) {
        KernelLauncher.Launch l = k.fn("moe_router_route_bf16" + Gemv2Kernels.rows(tokens)).ptr(x).i64(ldx).ptr(w).i32(kk).i32(split)
                .ptr(logits).i64(ldl).ptr(done).i32(tokens);
        MoeKernels.alignment(gate.append(l).ptr(ids).ptr(weights), a).launch(GemmKernels.ceilDiv(gate.experts(), 8 / split), 1, 1, THREADS, 0);
    }

    /** MLA's latent norm and both ropes in one launch: grid (rows, 3 roles, parts). */
    void normRope(RopeHeads a, RopeHeads b, RopeTable t, LatentNorm norm, int rows) {
        int parts = ElementwiseKernels.ropeParts(Math.max(a.heads(), b.heads()), t.half());
        norm(ElementwiseKernels.pair(k.fn("mla_norm_rope_bf16"), a, b, t), norm).launch(rows, NORM_ROPE_ROLES, parts, THREADS, 0);
    }

    /** Can mla_norm_rope's norm blocks take rows of {@code cols} (whole 16-byte vectors, two per thread)? */
    static boolean normFits(int cols) {
        return cols % 8 == 0 && cols <= 8 * 2 * THREADS;
    }

    /**
     * Absorbed MLA's inputs in one launch: W_UK per head (gemv_heads, rows of 128) from q_nope into q_latent,
     * beside normRope's blocks. {@code m} rows (at most 8).
     */
    void prepare(int m, DeviceHeads qNope, long wuk, DeviceHeads qLatent, int latentWidth, int heads, RopeHeads a, RopeHeads b, RopeTable t,
                 LatentNorm norm) {
        int ukBx = Gemv2Kernels.headsBlocks(latentWidth, 128), ukBlocks = ukBx * heads;
        int parts = ElementwiseKernels.ropeParts(Math.max(a.heads(), b.heads()), t.half());
        KernelLauncher.Launch l = k.fn("mla_prepare_bf16" + Gemv2Kernels.rows(m)).ptr(qNope.ptr()).i64(qNope.ld()).i64(qNope.stride()).ptr(wuk)
                .i64((long) latentWidth * 128).ptr(qLatent.ptr()).i64(qLatent.ld()).i64(qLatent.stride()).i32(m).i32(latentWidth).i32(ukBx).i32(ukBlocks);
        norm(ElementwiseKernels.pair(l, a, b, t), norm).i32(parts).launch(ukBlocks + NORM_ROPE_ROLES * m * parts, 1, 1, THREADS, 0);
    }

    private static KernelLauncher.Launch norm(KernelLauncher.Launch l, LatentNorm n) {
        return l.ptr(n.x()).i64(n.ldx()).ptr(n.w()).f32(n.eps()).ptr(n.out()).i64(n.ldo()).i32(n.cols());
    }
}
