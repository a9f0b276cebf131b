package kiln.backend.cuda;

import kiln.backend.ForwardBatch;

import java.util.Arrays;
import java.util.Comparator;

/**
 * The block table of the MHA-form MLA prefill kernel (mla_prefill.cuh): one entry per block of up to 64 new tokens
 * of one sequence, five ints each (first query row in the flat batch, rows, the context index the block's first row
 * sees up to, the sequence's first context row, its context length). Longest blocks first: a CTA's work grows with
 * its causal prefix, and starting the long ones first keeps the end of the grid from waiting on a few of them.
 */
final class MlaPrefill {
    private MlaPrefill() {}

    static final int ROWS = 64, THREADS = 128, INTS = 5;
    /** The kernel's widths (qk_nope, qk_rope, v); other shapes keep the absorbed form. */
    static final int NOPE = 128, ROPE = 64, V = 128;

    /** Shared memory of mla_prefill_bf16_n128_r64_v128: two K tiles [64][192 + 8] and two V tiles [64][128 + 8], bf16. */
    static int sharedBytes() {
        return 2 * 64 * (NOPE + ROPE + 8) * 2 + 2 * 64 * (V + 8) * 2;
    }

    static boolean supports(int nope, int rope, int vDim) {
        return nope == NOPE && rope == ROPE && vDim == V;
    }

    static int[] blockTable(ForwardBatch b) {
        int n = 0;
        for (ForwardBatch.Seq s : b.seqs()) n += (s.newTokens() + ROWS - 1) / ROWS;
        int[][] blocks = new int[n][];
        int at = 0, ctx = 0;
        for (ForwardBatch.Seq s : b.seqs()) {
            for (int q0 = 0; q0 < s.newTokens(); q0 += ROWS) {
                blocks[at++] = new int[]{s.tokenStart() + q0, Math.min(ROWS, s.newTokens() - q0), s.cachedTokens() + q0, ctx, s.totalTokens()};
            }
            ctx += s.totalTokens();
        }
        Arrays.sort(blocks, Comparator.comparingInt((int[] e) -> -(e[2] + e[1])));
        int[] table = new int[INTS * n];
        for (int i = 0; i < n; i++) System.arraycopy(blocks[i], 0, table, INTS * i, INTS);
        return table;
    }
}
