package kiln.backend;

/**
 * Thrown by a collective of a broken tensor-parallel group ({@link RankGroup#abort}); the rank that broke it threw
 * the real failure, which is this exception's cause.
 */
public final class GroupBrokenException extends IllegalStateException {
    public GroupBrokenException(int rank, Throwable cause) {
        super("tensor-parallel rank " + rank + ": the group was broken by a failed rank" + (cause == null ? "" : " (" + cause + ")"), cause);
    }
}
