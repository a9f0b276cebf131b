package kiln.backend.cuda;

/**
 * Bump allocator over one device buffer for a forward's activations. The same sequence of requests always gets
 * the same addresses, which is what lets a captured CUDA graph be replayed: reset at the start of each forward,
 * {@link #mark}/{@link #release} around each layer so the peak is one layer's temporaries. Reuse is safe because
 * all work on the device's stream runs in order.
 */
final class ActivationArena implements AutoCloseable {
    private static final long ALIGN = 256;
    private final long base, capacity;
    private long offset, peak;

    ActivationArena(long capacity) {
        this.capacity = capacity;
        this.base = Driver.alloc(capacity);
    }

    long alloc(long bytes, String what) {
        long start = (offset + ALIGN - 1) / ALIGN * ALIGN;
        if (start + bytes > capacity) {
            throw new CudaException(String.format("activation arena of %.2f GiB is full: %s needs %.1f MiB more at %.1f MiB "
                    + "(raise --cuda-activation-gb / CudaOptions.activationBytes, or lower --chunked-prefill-size)",
                    capacity / 1073741824.0, what, bytes / 1048576.0, start / 1048576.0));
        }
        offset = start + bytes;
        peak = Math.max(peak, offset);
        return base + start;
    }

    long mark() {
        return offset;
    }

    void release(long mark) {
        if (mark < 0 || mark > offset) throw new IllegalArgumentException("release(" + mark + ") past the arena's offset " + offset);
        offset = mark;
    }

    /** Moves the offset to where a captured graph's forward left it, so later tensors do not overlap its outputs. */
    void restore(long offset) {
        if (offset < 0 || offset > capacity) throw new IllegalArgumentException("restore(" + offset + ") outside the arena");
        this.offset = offset;
        peak = Math.max(peak, offset);
    }

    void reset() {
        offset = 0;
    }

    /** Bytes still free above the current offset. */
    long remaining() {
        return capacity - offset;
    }

    long peak() {
        return peak;
    }

    long capacity() {
        return capacity;
    }

    @Override
    public void close() {
        Driver.free(base);
    }
}
