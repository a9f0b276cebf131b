package kiln.backend;

/**
 * What tensor-parallel ranks exchange: the backend of rank {@code tpRank()} in a group of {@code tpSize()} ranks,
 * each holding a shard of every layer. A backend alone is rank 0 of 1, and the collectives do nothing.
 *
 * <p>Every rank of the group must call the same collectives in the same order with tensors of the same shape (the
 * model code does: the same layers on the same batch). A collective returns on a rank only once every rank has
 * reached it; a rank that never does (it failed, or its thread stopped) must not leave the others waiting forever:
 * the group is broken ({@link RankGroup#abort}) and the collectives of the other ranks throw.
 */
public interface CollectiveOps extends TensorOps {
    /** This backend's rank in its tensor-parallel group, 0 to {@code tpSize() - 1}. */
    default int tpRank() {
        return 0;
    }

    default int tpSize() {
        return 1;
    }

    /**
     * In place: {@code t} becomes the elementwise sum of every rank's {@code t}, added in rank order
     * ((t_0 + t_1) + t_2) + ..., so every rank ends with bitwise the same result, run after run.
     */
    default void allReduceSum(Tensor t) {
        if (tpSize() != 1) throw new UnsupportedOperationException(name() + ": no all-reduce in a group of " + tpSize());
    }

    /**
     * Rank r's {@code part} [rows, w_r] lands in {@code out} [rows, sum of w] at the columns starting at the sum of
     * the earlier ranks' widths, on every rank. In a group of one, {@code part} is {@code out} itself (the only
     * part is the whole) and nothing moves.
     */
    default void allGatherColumns(Tensor part, Tensor out) {
        if (tpSize() != 1) throw new UnsupportedOperationException(name() + ": no all-gather in a group of " + tpSize());
        if (!part.equals(out)) throw new IllegalArgumentException("allGatherColumns in a group of one: part must be out itself");
    }
}
