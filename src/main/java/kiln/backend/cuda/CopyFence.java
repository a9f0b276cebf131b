package kiln.backend.cuda;

import java.lang.foreign.MemorySegment;

/**
 * When the host may reuse a buffer a queued copy reads or writes: an event recorded on the stream after that copy,
 * waited for only if a copy is still pending. Page-locked staging (BatchMeta, the sampling ring, Transfers' queued
 * uploads) refills its buffers behind one of these instead of synchronising the whole stream. Device thread only.
 */
final class CopyFence implements AutoCloseable {
    private final MemorySegment event = Driver.createEvent(Driver.EVENT_DISABLE_TIMING);
    private boolean pending;

    /** Marks the work queued on {@code stream} so far (the copy just issued) as what {@link #await} waits for. */
    void record(MemorySegment stream) {
        Driver.record(event, stream);
        pending = true;
    }

    /** Returns once the recorded copy has finished (at once when none is pending). */
    void await() {
        if (pending) Driver.synchronizeEvent(event);
        pending = false;
    }

    /** Waits for a pending copy, then frees the event. */
    @Override
    public void close() {
        await();
        Driver.destroyEvent(event);
    }
}
