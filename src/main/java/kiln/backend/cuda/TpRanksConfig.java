package kiln.backend.cuda;

import kiln.KilnProperty;

import java.util.Locale;

/**
 * How {@code --tp N} > 1 runs on the CUDA backend, read once from {@code kiln.cuda.tpRanks} and
 * {@code kiln.cuda.ncclLibrary} when a group is made.
 *
 * @param kind        the ranks: none (refused), virtual ranks sharing rank 0's GPU, or one GPU per rank over NCCL
 * @param ncclLibrary the NCCL library {@link Kind#NCCL} loads
 */
public record TpRanksConfig(Kind kind, String ncclLibrary) {
    public enum Kind {
        /** --tp > 1 is refused, naming the property. */
        NONE,
        /** N ranks on rank 0's GPU, one stream, collectives by a sum kernel ({@link VirtualRanks}). */
        VIRTUAL,
        /** Rank r on GPU base + r, collectives through NCCL ({@link NcclRanks}); the default. */
        NCCL
    }

    public static TpRanksConfig fromProperties() {
        String v = KilnProperty.CUDA_TP_RANKS.value().trim().toLowerCase(Locale.ROOT);
        Kind k = switch (v) {
            case "none" -> Kind.NONE;
            case "virtual" -> Kind.VIRTUAL;
            case "nccl" -> Kind.NCCL;
            default -> throw new IllegalArgumentException(KilnProperty.CUDA_TP_RANKS.key() + " must be none, virtual or nccl, not " + v);
        };
        return new TpRanksConfig(k, KilnProperty.CUDA_NCCL_LIBRARY.value());
    }

    public TpRanksConfig withKind(Kind k) {
        return new TpRanksConfig(k, ncclLibrary);
    }
}
