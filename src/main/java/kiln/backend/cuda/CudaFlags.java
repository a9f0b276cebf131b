package kiln.backend.cuda;

import java.util.function.Consumer;
import kiln.KilnProperty;

/**
 * The CUDA backend's switches, fixed for a backend's life (docs/properties.md says what each does). Every kernel
 * choice they make has a plain fallback that CudaKernelCheck keeps checked by building a backend with the switch
 * off; none is needed for correctness. Defaults come from the {@code kiln.cuda.*} properties ({@link #fromProperties}).
 *
 * @param gemv2          decode GEMVs of up to 8 rows on gemv2.cuh (off: gemm.cuh's first GEMVs)
 * @param moeMma         MoE of moeMmaMinTokens tokens or more on the tensor-core grouped kernel (moe_mma.cuh)
 * @param moeMmaMaxTokens the most tokens moe_mma takes; larger bf16 prefill batches go per expert through cuBLASLt
 * @param moeMmaMinTokens the fewest tokens moe_mma takes (2..9); smaller batches take the grouped GEMV
 * @param moeStagedMinTokens the fewest tokens whose experts (bf16, or fp8 in 128-row blocks) take moe_staged.cuh's grouped GEMM (tiles staged
 *                       through shared memory), ahead of moe_mma and the per-expert path; 0: none
 * @param linearMmaMaxRows the most rows of a dense linear layer or SwiGLU linear_mma.cuh takes (from 2; 1: none)
 * @param linearMmaFp8   linear_mma.cuh for fp8 weights too
 * @param fp8LtMinRows   the fewest rows an fp8 linear layer takes cuBLASLt's block-scaled FP8 GEMM with, ahead of
 *                       linear_mma (from 2; the default 17 leaves 2..16 rows to linear_mma)
 * @param moeByExpert    prefill MoE per expert through cuBLASLt instead of Kiln's grouped GEMM
 * @param mlaTc          MLA attention in bf16 on the tensor-core kernels (mla_decode.cuh) instead of the generic one
 * @param mlaSplit64     MLA decode in splits of >= 64 keys (mla_attention_tc2) instead of >= 256 (mla_attention_tc)
 * @param mlaSplitMin    fewest keys per split of mla_attention_tc2
 * @param mhaPrefill     DeepSeek MLA prefill in the MHA form (mla_prefill.cuh) instead of the absorbed form
 * @param gqaPrefill     grouped-query attention of bf16 extend batches on mla_prefill.cuh's tensor-core kernel
 * @param gqaTc          grouped-query attention of the other bf16 batches (decode) on mla_decode.cuh's tensor-core kernel
 * @param fuseDecode     decode fusions of up to 8 tokens (router + routing, latent norm + ropes + W_UK, W_UV merge)
 * @param routeAlign     routing and alignment of up to 8 tokens in one launch
 * @param sideStream     DeepSeek's shared experts on a side stream in captured decode graphs of up to 8 tokens
 * @param pdl            programmatic dependent launch on Hopper
 * @param syncEachLaunch a stream synchronisation after every launch, so a fault names its kernel
 * @param profile        per-op device time between events (graphs are bypassed)
 * @param fatbin         a kernels image to load instead of the jar's, or null
 * @param trace          a file every launch is appended to, or null
 */
public record CudaFlags(boolean gemv2, boolean moeMma, int moeMmaMaxTokens, int moeMmaMinTokens, int moeStagedMinTokens, int linearMmaMaxRows, boolean linearMmaFp8, int fp8LtMinRows,
                        boolean moeByExpert, boolean mlaTc, boolean mlaSplit64, int mlaSplitMin,
                        boolean mhaPrefill, boolean gqaPrefill, boolean gqaTc, boolean fuseDecode, boolean routeAlign, boolean sideStream, boolean pdl,
                        boolean syncEachLaunch, boolean profile, String fatbin, String trace) {

    public CudaFlags {
        if (moeMmaMaxTokens < 0) throw new IllegalArgumentException("kiln.cuda.moeMmaMaxTokens must not be negative, not " + moeMmaMaxTokens);
        if (moeMmaMinTokens < 2 || moeMmaMinTokens > 9) {
            throw new IllegalArgumentException("kiln.cuda.moeMmaMinTokens must be 2 to 9, not " + moeMmaMinTokens);
        }
        if (moeStagedMinTokens < 0) throw new IllegalArgumentException("kiln.cuda.moeStagedMinTokens must not be negative, not " + moeStagedMinTokens);
        if (linearMmaMaxRows < 1 || linearMmaMaxRows > LinearMmaKernels.MAX_ROWS) {
            throw new IllegalArgumentException("kiln.cuda.linearMmaMaxRows must be 1 to " + LinearMmaKernels.MAX_ROWS + ", not " + linearMmaMaxRows);
        }
        if (fp8LtMinRows < 2) throw new IllegalArgumentException("kiln.cuda.fp8LtMinRows must be at least 2, not " + fp8LtMinRows);
        if (mlaSplitMin < 1) throw new IllegalArgumentException("kiln.cuda.mlaSplitMin must be at least 1, not " + mlaSplitMin);
    }

    /** The switches as the {@code kiln.cuda.*} system properties set them (defaults: docs/properties.md). */
    public static CudaFlags fromProperties() {
        return new CudaFlags(KilnProperty.CUDA_GEMV2.flag(), KilnProperty.CUDA_MOE_MMA.flag(),
                KilnProperty.CUDA_MOE_MMA_MAX_TOKENS.intValue(0), KilnProperty.CUDA_MOE_MMA_MIN_TOKENS.intValue(2),
                KilnProperty.CUDA_MOE_STAGED_MIN_TOKENS.intValue(0),
                KilnProperty.CUDA_LINEAR_MMA_MAX_ROWS.intValue(1), KilnProperty.CUDA_LINEAR_MMA_FP8.flag(), KilnProperty.CUDA_FP8_LT_MIN_ROWS.intValue(17),
                KilnProperty.CUDA_MOE_BY_EXPERT.flag(),
                KilnProperty.CUDA_MLA_TC.flag(), KilnProperty.CUDA_MLA_SPLIT64.flag(), KilnProperty.CUDA_MLA_SPLIT_MIN.intValue(64),
                KilnProperty.CUDA_MHA_PREFILL.flag(), KilnProperty.CUDA_GQA_PREFILL.flag(), KilnProperty.CUDA_GQA_TC.flag(),
                KilnProperty.CUDA_FUSE_DECODE.flag(), KilnProperty.CUDA_ROUTE_ALIGN.flag(), KilnProperty.CUDA_SIDE_STREAM.flag(),
                KilnProperty.CUDA_PDL.flag(), KilnProperty.CUDA_SYNC.flag(), KilnProperty.CUDA_PROFILE.flag(),
                KilnProperty.CUDA_FATBIN.valueOrNull(), KilnProperty.CUDA_TRACE.valueOrNull());
    }

    public CudaFlags withMoeMmaMaxTokens(int tokens) {
        return edit(f -> f.moeMmaMaxTokens = tokens);
    }

    public CudaFlags withMoeMmaMinTokens(int tokens) {
        return edit(f -> f.moeMmaMinTokens = tokens);
    }

    public CudaFlags withMoeStagedMinTokens(int tokens) {
        return edit(f -> f.moeStagedMinTokens = tokens);
    }

    public CudaFlags withLinearMmaMaxRows(int rows) {
        return edit(f -> f.linearMmaMaxRows = rows);
    }

    public CudaFlags withLinearMmaFp8(boolean on) {
        return edit(f -> f.linearMmaFp8 = on);
    }

    public CudaFlags withFp8LtMinRows(int rows) {
        return edit(f -> f.fp8LtMinRows = rows);
    }

    public CudaFlags withMlaTc(boolean on) {
        return edit(f -> f.mlaTc = on);
    }

    public CudaFlags withGqaPrefill(boolean on) {
        return edit(f -> f.gqaPrefill = on);
    }

    public CudaFlags withGqaTc(boolean on) {
        return edit(f -> f.gqaTc = on);
    }

    public CudaFlags withMhaPrefill(boolean on) {
        return edit(f -> f.mhaPrefill = on);
    }

    private CudaFlags edit(Consumer<Fields> change) {
        Fields f = new Fields(this);
        change.accept(f);
        return f.build();
    }

    /** The switches as plain fields, so that each wither names only what it changes. */
    private static final class Fields {
        boolean gemv2, moeMma, linearMmaFp8, moeByExpert, mlaTc, mlaSplit64, mhaPrefill, gqaPrefill, gqaTc, fuseDecode, routeAlign, sideStream, pdl,
                syncEachLaunch, profile;
        int moeMmaMaxTokens, moeMmaMinTokens, moeStagedMinTokens, linearMmaMaxRows, fp8LtMinRows, mlaSplitMin;
        String fatbin, trace;

        Fields(CudaFlags c) {
            gemv2 = c.gemv2;
            moeMma = c.moeMma;
            moeMmaMaxTokens = c.moeMmaMaxTokens;
            moeMmaMinTokens = c.moeMmaMinTokens;
            moeStagedMinTokens = c.moeStagedMinTokens;
            linearMmaMaxRows = c.linearMmaMaxRows;
            linearMmaFp8 = c.linearMmaFp8;
            fp8LtMinRows = c.fp8LtMinRows;
            moeByExpert = c.moeByExpert;
            mlaTc = c.mlaTc;
            mlaSplit64 = c.mlaSplit64;
            mlaSplitMin = c.mlaSplitMin;
            mhaPrefill = c.mhaPrefill;
            gqaPrefill = c.gqaPrefill;
            gqaTc = c.gqaTc;
            fuseDecode = c.fuseDecode;
            routeAlign = c.routeAlign;
            sideStream = c.sideStream;
            pdl = c.pdl;
            syncEachLaunch = c.syncEachLaunch;
            profile = c.profile;
            fatbin = c.fatbin;
            trace = c.trace;
        }

        CudaFlags build() {
            return new CudaFlags(gemv2, moeMma, moeMmaMaxTokens, moeMmaMinTokens, moeStagedMinTokens, linearMmaMaxRows, linearMmaFp8, fp8LtMinRows, moeByExpert, mlaTc, mlaSplit64, mlaSplitMin, mhaPrefill, gqaPrefill,
                    gqaTc, fuseDecode, routeAlign, sideStream, pdl, syncEachLaunch, profile, fatbin, trace);
        }
    }
}
