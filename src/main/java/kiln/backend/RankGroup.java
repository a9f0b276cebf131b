package kiln.backend;

/**
 * The backends of one tensor-parallel group, rank 0 first, whose {@link CollectiveOps} meet each other. The
 * group is closed with its ranks.
 */
public interface RankGroup extends AutoCloseable {
    int size();

    Backend rank(int rank);

    /**
     * Breaks the group because a rank failed with {@code cause}: every rank waiting in a collective, and every rank
     * entering one later, throws instead of waiting for a rank that will not come.
     */
    void abort(Throwable cause);

    /** Makes a broken group usable again; only while no rank is inside a collective (between two forwards). */
    void reset();

    @Override
    void close();
}
