package kiln.backend.cuda;

import kiln.backend.cuda.GemmKernels.ExpertTable;
import kiln.backend.cuda.GemmKernels.WeightArgs;

import static kiln.backend.cuda.GemmKernels.ceilDiv;
import static kiln.backend.cuda.GemmKernels.tiles;
import static kiln.backend.cuda.GemmKernels.weightSuffix;

/**
 * Launchers of gemv2.cuh's entry points: the decode GEMVs (bf16 activations, 1 to 8 rows; bf16 or fp8 weights),
 * one warp per weight row, and MLA's per-head GEMVs. Each kernel comes in an {@code _m1} build for one row and an
 * {@code _m8} build for up to 8, which {@code m} picks.
 */
final class Gemv2Kernels {
    /** Most activation rows; threads per block (GEMV2_WARPS warps). */
    static final int MAX_ROWS = 8, THREADS = 256;
    /** Weight rows per block of gemv_heads (GemvHeads<K>::ROWS_PER_BLOCK) for K = 128 and 512. */
    private static final int HEADS_ROWS_K128 = 128, HEADS_ROWS_K512 = 32;
    /** gemv2.cuh's MOE_TABLE_MAX: the most experts whose pointer tables moe_gemv2_gate_up copies to shared memory. */
    static final int MOE_TABLE_MAX = 256;

    private final KernelLauncher k;

    Gemv2Kernels(KernelLauncher k) {
        this.k = k;
    }

    /** The build for m rows: one, or up to 8. */
    static String rows(int m) {
        if (m < 1 || m > MAX_ROWS) throw new IllegalArgumentException("gemv2 takes 1 to " + MAX_ROWS + " rows, not " + m);
        return m == 1 ? "_m1" : "_m8";
    }

    /** The grouped GEMVs' build for a batch of {@code tokens}: one token (each choice another expert), or 8-row tiles. */
    static String tileRows(int tokens) {
        return tokens == 1 ? "_m1" : "_m8";
    }

    /** Weight rows per block of the plain GEMVs (GemvRows: two per warp for one row, else one). */
    static int rowsPerBlock(int m) {
        return m == 1 ? 16 : 8;
    }

    /** Can the GEMVs read rows of {@code k} weights (whole 16-byte loads: 8 bf16 or 16 fp8 values)? */
    static boolean fits(int k, boolean fp8) {
        return k % (fp8 ? 16 : 8) == 0;
    }

    /**
     * Warps per weight row for a GEMV of few long rows (gemv2_splitk): 1 while the plain grid fills half the SMs,
     * else 2, 4 or 8 until it has 128 blocks, as long as a slice stays a whole number of loads (fp8: of scale blocks).
     */
    static int splitK(int n, int k, boolean fp8) {
        if (ceilDiv(n, 16) >= 64 || k < 1024) return 1;
        int split = 1;
        while (split < 8 && ceilDiv(n * split, 8) < 128 && (k / (2 * split)) % (fp8 ? 128 : 8) == 0 && k % (2 * split) == 0) split *= 2;
        return split;
    }

    /** out = x W^T (+ bias), {@code batches} times with x, W and out advanced by their batch strides (per-head matrices). */
    void gemv2(int m, long x, long ldx, long xStride, WeightArgs w, long wStride, long bias, long out, long ldo, long oStride, int n, int kk,
               int batches) {
        k.fn("gemv2_bf16_" + weightSuffix(w.dtype()) + rows(m)).ptr(x).i64(ldx).i64(xStride).ptr(w.ptr()).i64(wStride).ptr(w.scales())
                .i32(w.scaleCols()).i32(w.blockRows()).ptr(bias).ptr(out).i64(ldo).i64(oStride).i32(m).i32(n).i32(kk)
                .launch(ceilDiv(n, rowsPerBlock(m)), batches, 1, THREADS, 0);
    }

    /** gemv2 with each weight row split over {@code split} warps (see {@link #splitK}). */
    void gemv2SplitK(int m, long x, long ldx, WeightArgs w, long bias, long out, long ldo, int n, int kk, int split) {
        k.fn("gemv2_splitk_bf16_" + weightSuffix(w.dtype()) + rows(m)).ptr(x).i64(ldx).ptr(w.ptr()).ptr(w.scales()).i32(w.scaleCols())
                .i32(w.blockRows()).ptr(bias).ptr(out).i64(ldo).i32(m).i32(n).i32(kk).i32(split)
                .launch(ceilDiv(n, 8 / split), 1, 1, THREADS, 0);
    }

    /** Two GEMVs of the same x in one launch (na rows of a, then nb of b); a and b share a weight type. */
    void gemv2Pair(int m, long x, long ldx, WeightArgs a, long outA, long ldoA, int na, WeightArgs b, long outB, long ldoB, int nb, int kk) {
        k.fn("gemv2_pair_bf16_" + weightSuffix(a.dtype()) + rows(m)).ptr(x).i64(ldx)
                .ptr(a.ptr()).ptr(a.scales()).i32(a.scaleCols()).i32(a.blockRows()).ptr(outA).i64(ldoA).i32(na)
                .ptr(b.ptr()).ptr(b.scales()).i32(b.scaleCols()).i32(b.blockRows()).ptr(outB).i64(ldoB).i32(nb)
                .i32(m).i32(kk).launch(ceilDiv(na, rowsPerBlock(m)) + ceilDiv(nb, rowsPerBlock(m)), 1, 1, THREADS, 0);
    }

    /** out = silu(x gate^T) * (x up^T), one warp per gate/up row pair; gate and up share a scale layout. */
    void gemv2GateUp(int m, long x, long ldx, WeightArgs gate, WeightArgs up, long out, long ldo, int n, int kk) {
        k.fn("gemv2_gate_up_bf16_" + weightSuffix(gate.dtype()) + rows(m)).ptr(x).i64(ldx).ptr(gate.ptr()).ptr(up.ptr()).ptr(gate.scales())
                .ptr(up.scales()).i32(gate.scaleCols()).i32(gate.blockRows()).ptr(out).i64(ldo).i32(m).i32(n).i32(kk)
                .launch(ceilDiv(n, 8), THREADS);
    }

    /**
     * The grouped expert down projection over moe_align's 8-row tiles ({@code m}: the batch's token count, which
     * picks the build). Its launch implies the routing has finished, so it reads the routing before its own wait.
     */
    void moeGemv2(int m, long x, long ldx, long rowIndex, int rowDiv, ExpertTable w, CudaMoe.Alignment tiles, long out, long ldo, int n, int kk) {
        tiles(k.fn("moe_gemv2_bf16_" + weightSuffix(w.dtype()) + tileRows(m)).ptr(x).i64(ldx).ptr(rowIndex).i32(rowDiv).ptr(w.ptrs())
                .ptr(w.scales()).i32(w.scaleCols()).i32(w.blockRows()), tiles).ptr(out).i64(ldo).i32(n).i32(kk)
                .launch(ceilDiv(n, rowsPerBlock(m)), tiles.maxTiles(), 1, THREADS, 0);
    }

    /**
     * The grouped gate/up + SwiGLU over 8-row tiles; {@code tableExperts} > 0 (at most {@link #MOE_TABLE_MAX}) copies
     * the experts' pointer tables to shared memory before the kernel's wait.
     */
    void moeGemv2GateUp(int m, long x, long ldx, long rowIndex, int rowDiv, ExpertTable gate, ExpertTable up, CudaMoe.Alignment tiles, long out,
                        long ldo, int n, int kk, int tableExperts) {
        tiles(k.fn("moe_gemv2_gate_up_bf16_" + weightSuffix(gate.dtype()) + tileRows(m)).ptr(x).i64(ldx).ptr(rowIndex).i32(rowDiv).ptr(gate.ptrs())
                .ptr(up.ptrs()).ptr(gate.scales()).ptr(up.scales()).i32(gate.scaleCols()).i32(gate.blockRows()), tiles)
                .ptr(out).i64(ldo).i32(n).i32(kk).i32(tableExperts).launch(ceilDiv(n, 8), tiles.maxTiles(), 1, THREADS, 0);
    }

    /** Can gemv_heads take per-head matrices of rows this wide (MLA's W_UK: 128, W_UV: 512)? */
    static boolean headsFit(int inWidth) {
        return inWidth == 128 || inWidth == 512;
    }

    /** Blocks along a head's {@code n} output rows of gemv_heads for rows {@code inWidth} wide. */
    static int headsBlocks(int n, int inWidth) {
        return ceilDiv(n, inWidth == 128 ? HEADS_ROWS_K128 : HEADS_ROWS_K512);
    }

    /** Per head h: out_h = W_h x_h, short rows ({@code inWidth} 128 or 512) several per warp; bf16 weights. */
    void gemvHeads(int m, int inWidth, DeviceHeads x, long w, long wStride, DeviceHeads out, int n, int heads) {
        if (!headsFit(inWidth)) throw new IllegalArgumentException("gemv_heads takes rows of 128 or 512 values, not " + inWidth);
        k.fn("gemv_heads_bf16_k" + inWidth + rows(m)).ptr(x.ptr()).i64(x.ld()).i64(x.stride()).ptr(w).i64(wStride)
                .ptr(out.ptr()).i64(out.ld()).i64(out.stride()).i32(m).i32(n).launch(headsBlocks(n, inWidth), heads, 1, THREADS, 0);
    }

    /**
     * One decode token's W_UV straight from MLA decode's split results: each block merges its head's splits (as
     * attention_combine2 would, with {@code splitMin}) into x, then multiplies. Rows of 512.
     */
    void gemvHeadsMerge(long x, long xStride, long w, long wStride, long out, long oStride, int n, long tokenVisible, int splits, int splitMin,
                        AttentionKernels.Partials partials, int heads) {
        k.fn("gemv_heads_merge_bf16_k512_m1").ptr(x).i64(xStride).ptr(w).i64(wStride).ptr(out).i64(oStride).i32(n).ptr(tokenVisible)
                .i32(splits).i32(splitMin).ptr(partials.acc()).ptr(partials.ml()).launch(headsBlocks(n, 512), heads, 1, THREADS, 0);
    }
}
