package kiln.model;

import kiln.backend.KvCache;
import kiln.backend.KvLayout;

import java.util.List;

/**
 * The KV pool of a tensor-parallel model: one cache per rank, each on its rank's backend, all addressed by the same
 * slot numbers (the scheduler hands out slots once for every rank). Holds the slots of its smallest rank.
 */
public final class RankCaches implements KvCache {
    private final List<KvCache> ranks;

    RankCaches(List<KvCache> ranks) {
        this.ranks = List.copyOf(ranks);
    }

    public KvCache rank(int rank) {
        return ranks.get(rank);
    }

    /** Rank 0's layout (every rank's, for the architectures Kiln splits). */
    @Override
    public KvLayout layout() {
        return ranks.getFirst().layout();
    }

    @Override
    public int slots() {
        return ranks.stream().mapToInt(KvCache::slots).min().orElseThrow();
    }

    /** Bytes of every rank together. */
    @Override
    public long bytes() {
        return ranks.stream().mapToLong(KvCache::bytes).sum();
    }

    @Override
    public void close() {
        ranks.forEach(KvCache::close);
    }
}
