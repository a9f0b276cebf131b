package kiln.model;

import kiln.backend.Backend;

/**
 * The part of a model one tensor-parallel rank holds: rank {@code rank} of {@code size}. Each weight says how it
 * divides ({@link Split}); size 1 holds everything whole.
 */
public record Shard(int rank, int size) {
    public static final Shard WHOLE = new Shard(0, 1);

    public Shard {
        if (size < 1 || rank < 0 || rank >= size) throw new IllegalArgumentException("no rank " + rank + " of " + size);
    }

    /** The rank a backend says it is. */
    static Shard of(Backend backend) {
        return new Shard(backend.tpRank(), backend.tpSize());
    }

    /** This rank's count of {@code units} shared evenly (heads, intermediate rows); {@link Split} rejects sizes that do not divide. */
    int share(int units) {
        return units / size;
    }
}
