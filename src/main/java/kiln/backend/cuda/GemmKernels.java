package kiln.backend.cuda;

import kiln.io.DType;

/**
 * Launchers of gemm.cuh's entry points: out = x W^T (+ bias) with weights in stored precision (f32, bf16, fp8 with
 * block scales), Kiln's own GEMMs (float32 in canonical summation order on the CUDA cores, bf16 on the tensor
 * cores), their grouped MoE forms over moe_align's tiles, and the first decode GEMVs (up to 8 rows, bf16).
 */
final class GemmKernels {
    /** Output tile of the GEMMs (GEMM_BM x GEMM_BN) and rows of a GEMV block (one warp per weight row). */
    static final int TILE = 64, GEMV_ROWS = 8;

    /** A weight on the device as the kernels read it: data, fp8 block scales (0 if none), scale columns, rows per scale block. */
    record WeightArgs(DType dtype, long ptr, long scales, int scaleCols, int blockRows) {
        static WeightArgs of(CudaWeight w) {
            return new WeightArgs(w.dtype(), w.ptr(), w.scales(), w.scaleCols(), Math.max(1, w.blockRows()));
        }
    }

    /** Experts' pointer tables (one u64 per expert for data, one for scales, 0 when not fp8) and their scale layout. */
    record ExpertTable(DType dtype, long ptrs, long scales, int scaleCols, int blockRows) {}

    private final KernelLauncher k;

    GemmKernels(KernelLauncher k) {
        this.k = k;
    }

    /** The kernel-name suffix of a stored weight type. */
    static String weightSuffix(DType d) {
        return switch (d) {
            case F32 -> "wf32";
            case BF16 -> "wbf16";
            case F8_E4M3 -> "wfp8";
            default -> throw new IllegalArgumentException("no CUDA kernels for weights of " + d);
        };
    }

    /**
     * float32 activations on the CUDA cores in the canonical order (batch-invariant): {@code batches} products,
     * each x, W and out advanced by its batch stride (per-head matrices).
     */
    void gemmF32(long x, long ldx, long xStride, WeightArgs w, long wStride, long bias, long out, long ldo, long oStride, int m, int n, int kk,
                 int batches) {
        gemm("gemm_f32_", x, ldx, xStride, w, wStride, bias, out, ldo, oStride, m, n, kk, batches);
    }

    /** gemmF32's contract for bf16 activations, on the tensor cores. */
    void gemmTc(long x, long ldx, long xStride, WeightArgs w, long wStride, long bias, long out, long ldo, long oStride, int m, int n, int kk,
                int batches) {
        gemm("gemm_tc_bf16_", x, ldx, xStride, w, wStride, bias, out, ldo, oStride, m, n, kk, batches);
    }

    private void gemm(String kernel, long x, long ldx, long xStride, WeightArgs w, long wStride, long bias, long out, long ldo, long oStride,
                      int m, int n, int kk, int batches) {
        k.fn(kernel + weightSuffix(w.dtype())).ptr(x).i64(ldx).i64(xStride).ptr(w.ptr()).i64(wStride).ptr(w.scales()).i32(w.scaleCols())
                .i32(w.blockRows()).ptr(bias).ptr(out).i64(ldo).i64(oStride).i32(m).i32(n).i32(kk)
                .launch(ceilDiv(n, TILE), ceilDiv(m, TILE), batches, 256, 0);
    }

    /**
     * The grouped GEMM of float32 MoE: tile i of {@code tiles} multiplies the rows of one expert (x row
     * rowIndex[r] / rowDiv, or r itself when rowIndex is 0) by that expert's weight; {@code maxTiles} grid rows.
     */
    void moeGemmF32(long x, long ldx, long rowIndex, int rowDiv, ExpertTable w, CudaMoe.Alignment tiles, long out, long ldo, int n, int kk) {
        moeGemm("moe_gemm_f32_", x, ldx, rowIndex, rowDiv, w, tiles, out, ldo, n, kk);
    }

    /** moeGemmF32's contract for bf16 activations, on the tensor cores. */
    void moeGemmTc(long x, long ldx, long rowIndex, int rowDiv, ExpertTable w, CudaMoe.Alignment tiles, long out, long ldo, int n, int kk) {
        moeGemm("moe_gemm_tc_bf16_", x, ldx, rowIndex, rowDiv, w, tiles, out, ldo, n, kk);
    }

    private void moeGemm(String kernel, long x, long ldx, long rowIndex, int rowDiv, ExpertTable w, CudaMoe.Alignment tiles, long out, long ldo,
                         int n, int kk) {
        tiles(k.fn(kernel + weightSuffix(w.dtype())).ptr(x).i64(ldx).ptr(rowIndex).i32(rowDiv).ptr(w.ptrs()).ptr(w.scales()).i32(w.scaleCols())
                .i32(w.blockRows()), tiles).ptr(out).i64(ldo).i32(n).i32(kk).launch(ceilDiv(n, TILE), tiles.maxTiles(), 1, 256, 0);
    }

    /** The first decode GEMV (bf16, up to 8 rows): one warp per weight row. */
    void gemv(long x, long ldx, WeightArgs w, long bias, long out, long ldo, int m, int n, int kk) {
        k.fn("gemv_bf16_" + weightSuffix(w.dtype())).ptr(x).i64(ldx).ptr(w.ptr()).ptr(w.scales()).i32(w.scaleCols()).i32(w.blockRows())
                .ptr(bias).ptr(out).i64(ldo).i32(m).i32(n).i32(kk).launch(ceilDiv(n, GEMV_ROWS), 256);
    }

    /** out = silu(x gate^T) * (x up^T), one warp per gate/up row pair (bf16, up to 8 rows); gate and up share a scale layout. */
    void gemvGateUp(long x, long ldx, WeightArgs gate, WeightArgs up, long out, long ldo, int m, int n, int kk) {
        k.fn("gemv_gate_up_bf16_" + weightSuffix(gate.dtype())).ptr(x).i64(ldx).ptr(gate.ptr()).ptr(up.ptr()).ptr(gate.scales()).ptr(up.scales())
                .i32(gate.scaleCols()).i32(gate.blockRows()).ptr(out).i64(ldo).i32(m).i32(n).i32(kk).launch(ceilDiv(n, GEMV_ROWS), 256);
    }

    /** The first grouped expert GEMV (bf16): moeGemm's contract over 8-row tiles. */
    void moeGemv(long x, long ldx, long rowIndex, int rowDiv, ExpertTable w, CudaMoe.Alignment tiles, long out, long ldo, int n, int kk) {
        tiles(k.fn("moe_gemv_bf16_" + weightSuffix(w.dtype())).ptr(x).i64(ldx).ptr(rowIndex).i32(rowDiv).ptr(w.ptrs()).ptr(w.scales())
                .i32(w.scaleCols()).i32(w.blockRows()), tiles).ptr(out).i64(ldo).i32(n).i32(kk)
                .launch(ceilDiv(n, GEMV_ROWS), tiles.maxTiles(), 1, 256, 0);
    }

    /** The first grouped gate/up + SwiGLU (bf16): gemvGateUp's contract per expert over 8-row tiles. */
    void moeGemvGateUp(long x, long ldx, long rowIndex, int rowDiv, ExpertTable gate, ExpertTable up, CudaMoe.Alignment tiles, long out, long ldo,
                       int n, int kk) {
        tiles(k.fn("moe_gemv_gate_up_bf16_" + weightSuffix(gate.dtype())).ptr(x).i64(ldx).ptr(rowIndex).i32(rowDiv).ptr(gate.ptrs()).ptr(up.ptrs())
                .ptr(gate.scales()).ptr(up.scales()).i32(gate.scaleCols()).i32(gate.blockRows()), tiles).ptr(out).i64(ldo).i32(n).i32(kk)
                .launch(ceilDiv(n, GEMV_ROWS), tiles.maxTiles(), 1, 256, 0);
    }

    /** moe_align's tile table, in the order every grouped kernel takes it. */
    static KernelLauncher.Launch tiles(KernelLauncher.Launch l, CudaMoe.Alignment a) {
        return l.ptr(a.tileExpert()).ptr(a.tileBegin()).ptr(a.tileEnd()).ptr(a.numTiles());
    }

    static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }
}
