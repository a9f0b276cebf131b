package kiln.backend.cuda;

import kiln.backend.RankGroup;
import kiln.config.ConfigException;

/**
 * The tensor-parallel ranks of the CUDA backend, each a {@link CudaBackend} whose {@code allReduceSum} and
 * {@code allGatherColumns} come here with the rank's number: {@link VirtualRanks} (every rank on one GPU) or
 * {@link NcclRanks} (one GPU per rank). {@code kiln.cuda.tpRanks} picks one ({@link TpRanksConfig}).
 */
sealed interface CudaRankGroup extends RankGroup permits VirtualRanks, NcclRanks {
    /** Rank {@code rank}'s collective: {@code t} becomes the rank-ordered sum over the ranks, on every rank. */
    void allReduceSum(int rank, CudaTensor t);

    /** Rank {@code rank}'s part lands at its columns of every rank's {@code out}. */
    void allGatherColumns(int rank, CudaTensor part, CudaTensor out);

    /** How many of the group's ranks share each GPU (they share its memory, and so its KV budget). */
    int ranksPerDevice();

    /** {@code size} ranks set up like {@code like} (its options; rank 0 on its GPU), of the kind {@code config} names. */
    static CudaRankGroup create(CudaBackend like, int size, TpRanksConfig config) {
        return switch (config.kind()) {
            case VIRTUAL -> new VirtualRanks(like, size);
            case NCCL -> new NcclRanks(like, size, Nccl.load(config.ncclLibrary()));
            case NONE -> throw new ConfigException("--tp " + size + " on the CUDA backend is off (-Dkiln.cuda.tpRanks=none): "
                    + "=nccl puts rank r on GPU --base-gpu-id + r, =virtual every rank on one GPU (for checking the tensor-parallel "
                    + "path; no speed-up)");
        };
    }
}
