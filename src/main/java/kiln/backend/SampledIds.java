package kiln.backend;

/**
 * The token ids one step sampled, one per sampled row, possibly still on their way. A device that runs ahead of
 * the host returns them before they exist: the host reads them with {@link #await}, and the next forward can take
 * them as its input tokens without the host ever seeing them first ({@link ForwardBatch}'s future tokens), which
 * is what lets the scheduler plan step N+1 while step N runs.
 *
 * <p>Contract: {@code await} may be called any number of times, from the thread that owns the backend's forwards,
 * and gives the same ids each time. A device may reuse the storage of ids two steps old: ids must be awaited (or
 * read by the next forward) before the step after next samples.
 */
public interface SampledIds {
    /** How many ids (the rows sampled). */
    int count();

    /** The ids, in row order; waits for the device when they are not on the host yet. */
    int[] await();

    /** Ids that are already on the host. */
    static SampledIds ready(int[] ids) {
        return new Ready(ids.clone());
    }

    record Ready(int[] ids) implements SampledIds {
        @Override
        public int count() {
            return ids.length;
        }

        @Override
        public int[] await() {
            return ids.clone();
        }
    }
}
