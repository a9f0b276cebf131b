package kiln.backend.cuda;

import kiln.backend.Backend;
import kiln.io.DType;

/** The routed experts of one MoE layer on the device, and routing decisions resident there. */
final class CudaMoe {
    private CudaMoe() {}

    /**
     * Device arrays of per-expert weight pointers (u64) for gate, up and down, and of their fp8 scale pointers
     * (0 when not fp8), so one grouped GEMM launch serves all experts.
     */
    record Experts(int count, DType dtype, int inter, int hidden, long gate, long up, long down, long gateScales,
                   long upScales, long downScales, int blockRows, CudaWeight[] weights) implements Backend.Experts {}

    /**
     * ids [tokens * topK] int32 and weights [tokens * topK] float32 in the activation arena; {@code aligned}: the
     * expert-sorted order and tile table moe_align would make, when the router already made it (decode batches).
     */
    record Routing(CudaBackend backend, int tokens, int topK, long ids, long weights, Alignment aligned) implements Backend.Routing {
        @Override
        public int[] expertIds() {
            return backend.downloadInts(ids, tokens * topK);
        }
    }

    /** moe_align's outputs (MoeLayer): order, positions, and tiles of {@code tileRows} rows of one expert. */
    record Alignment(int experts, int tileRows, int maxTiles, long perm, long inv, long tileExpert, long tileBegin, long tileEnd,
                     long numTiles) {}
}
