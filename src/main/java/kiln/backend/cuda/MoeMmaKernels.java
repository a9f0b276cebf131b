package kiln.backend.cuda;

import kiln.backend.cuda.GemmKernels.ExpertTable;

import static kiln.backend.cuda.GemmKernels.ceilDiv;
import static kiln.backend.cuda.GemmKernels.tiles;
import static kiln.backend.cuda.GemmKernels.weightSuffix;

/**
 * Launchers of moe_mma.cuh's entry points: the grouped expert GEMM on the tensor cores for batches from
 * kiln.cuda.moeMmaMinTokens tokens (bf16 activations, bf16 or fp8 weights) over moe_align's 64-row tiles.
 */
final class MoeMmaKernels {
    /** Threads per CTA (MMA_WARPS warps) and output columns per CTA (16 per warp). */
    static final int THREADS = 128, COLS = 64;
    /** Rows per tile (moe_align's tile_rows for this kernel). */
    static final int TILE_ROWS = 64;

    private final KernelLauncher k;

    MoeMmaKernels(KernelLauncher k) {
        this.k = k;
    }

    /** The weights' K alignment the kernel needs: 8 loads of 16 bytes (64 bf16 or 128 fp8 values); 0 when it takes none. */
    static int kAlign(kiln.io.DType weights) {
        return switch (weights) {
            case BF16 -> 64;
            case F8_E4M3 -> 128;
            default -> 0;
        };
    }

    /** out = x W_e^T per tile of expert e (x row rowIndex[r] / rowDiv, or r itself when rowIndex is 0). */
    void moeMma(long x, long ldx, long rowIndex, int rowDiv, ExpertTable w, CudaMoe.Alignment tiles, long out, long ldo, int n, int kk) {
        tiles(k.fn("moe_mma_bf16_" + weightSuffix(w.dtype())).ptr(x).i64(ldx).ptr(rowIndex).i32(rowDiv).ptr(w.ptrs()).ptr(w.scales())
                .i32(w.scaleCols()).i32(w.blockRows()), tiles).ptr(out).i64(ldo).i32(n).i32(kk)
                .launch(ceilDiv(n, COLS), tiles.maxTiles(), 1, THREADS, 0);
    }

    /** out = silu(x gate_e^T) * (x up_e^T) per tile of expert e. */
    void moeMmaGateUp(long x, long ldx, long rowIndex, int rowDiv, ExpertTable gate, ExpertTable up, CudaMoe.Alignment tiles, long out, long ldo,
                      int n, int kk) {
        tiles(k.fn("moe_mma_gate_up_bf16_" + weightSuffix(gate.dtype())).ptr(x).i64(ldx).ptr(rowIndex).i32(rowDiv).ptr(gate.ptrs())
                .ptr(up.ptrs()).ptr(gate.scales()).ptr(up.scales()).i32(gate.scaleCols()).i32(gate.blockRows()), tiles).ptr(out).i64(ldo)
                .i32(n).i32(kk).launch(ceilDiv(n, COLS), tiles.maxTiles(), 1, THREADS, 0);
    }
}
