package kiln.backend.cuda;

import kiln.backend.cuda.GemmKernels.ExpertTable;
import kiln.io.DType;

import static kiln.backend.cuda.GemmKernels.ceilDiv;
import static kiln.backend.cuda.GemmKernels.tiles;
import static kiln.backend.cuda.GemmKernels.weightSuffix;

/**
 * Launchers of moe_staged.cuh's entry points: the grouped expert GEMM for prefill-sized batches of bf16 or fp8
 * experts (128 x 128 scale blocks), 128 x 128 output tiles over moe_align's 128-row tiles, K staged through shared
 * memory in steps of 32.
 */
final class MoeStagedKernels {
    /** Threads per CTA, rows per tile (moe_align's tile_rows), output columns per CTA (half of them for gate/up). */
    static final int THREADS = 256, TILE_ROWS = 128, COLS = 128;
    /** Four stages of 128 x-rows and 128 weight rows, 40 bf16 each; fp8: the weights' stages raw (32 bytes a row) plus one widened tile. */
    static final int SHARED_BYTES = 4 * 2 * 128 * 40 * 2, SHARED_BYTES_FP8 = 4 * 128 * 40 * 2 + 4 * 128 * 32 + 128 * 40 * 2;
    /** The K step: both projections' K must be a multiple of it. */
    static final int K_STEP = 32;

    private final KernelLauncher k;

    MoeStagedKernels(KernelLauncher k) {
        this.k = k;
    }

    /** Can the kernel take experts of this type (fp8: in 128-row scale blocks) with these K (hidden, intermediate)? */
    static boolean fits(DType experts, int blockRows, int hidden, int inter) {
        return (experts == DType.BF16 || experts == DType.F8_E4M3 && blockRows == 128) && hidden % K_STEP == 0 && inter % K_STEP == 0;
    }

    /** out = x W_e^T per tile of expert e (x row rowIndex[r] / rowDiv, or r itself when rowIndex is 0). */
    void moeStaged(long x, long ldx, long rowIndex, int rowDiv, ExpertTable w, CudaMoe.Alignment tiles, long out, long ldo, int n, int kk) {
        check(w, tiles, kk);
        tiles(k.fn("moe_staged_bf16_" + weightSuffix(w.dtype())).ptr(x).i64(ldx).ptr(rowIndex).i32(rowDiv).ptr(w.ptrs()).ptr(w.scales())
                .i32(w.scaleCols()), tiles).ptr(out).i64(ldo).i32(n).i32(kk).launch(ceilDiv(n, COLS), tiles.maxTiles(), 1, THREADS, sharedBytes(w));
    }

    /** out = silu(x gate_e^T) * (x up_e^T) per tile of expert e. */
    void moeStagedGateUp(long x, long ldx, long rowIndex, int rowDiv, ExpertTable gate, ExpertTable up, CudaMoe.Alignment tiles, long out,
                         long ldo, int n, int kk) {
        check(gate, tiles, kk);
        check(up, tiles, kk);
        tiles(k.fn("moe_staged_gate_up_bf16_" + weightSuffix(gate.dtype())).ptr(x).i64(ldx).ptr(rowIndex).i32(rowDiv).ptr(gate.ptrs()).ptr(up.ptrs())
                .ptr(gate.scales()).ptr(up.scales()).i32(gate.scaleCols()), tiles).ptr(out).i64(ldo).i32(n).i32(kk)
                .launch(ceilDiv(n, COLS / 2), tiles.maxTiles(), 1, THREADS, sharedBytes(gate));
    }

    private static int sharedBytes(ExpertTable w) {
        return w.dtype() == DType.F8_E4M3 ? SHARED_BYTES_FP8 : SHARED_BYTES;
    }

    private static void check(ExpertTable w, CudaMoe.Alignment tiles, int kk) {
        if (!fits(w.dtype(), w.blockRows(), kk, kk) || tiles.tileRows() != TILE_ROWS) {
            throw new IllegalArgumentException("moe_staged: " + w.dtype() + " experts (blocks of " + w.blockRows() + " rows), K " + kk + ", tiles of "
                    + tiles.tileRows() + " rows; the kernel takes bf16 or fp8 experts in 128-row blocks, K a multiple of " + K_STEP + ", tiles of "
                    + TILE_ROWS);
        }
    }
}
