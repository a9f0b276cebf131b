package kiln.backend;

/**
 * A device allocation refused for want of memory (CUDA_ERROR_OUT_OF_MEMORY), with what was asked and what the device
 * had, so that a caller who knows what was being allocated (the weight loader, the KV pool) can say it plainly.
 */
public final class DeviceMemoryException extends RuntimeException {
    private final long requested, free, total;

    /** {@code free} and {@code total} are -1 where the device could not say. */
    public DeviceMemoryException(String message, long requested, long free, long total) {
        super(message);
        this.requested = requested;
        this.free = free;
        this.total = total;
    }

    public long requested() {
        return requested;
    }

    public long free() {
        return free;
    }

    public long total() {
        return total;
    }

    /** "F GiB free of T GiB", or null where the device could not say. */
    public String freeOfTotal() {
        return freeOfTotal(free, total);
    }

    public static String freeOfTotal(long free, long total) {
        return total > 0 ? String.format("%.2f GiB free of %.2f GiB", free / 1073741824.0, total / 1073741824.0) : null;
    }

    /** The first DeviceMemoryException in {@code t}'s cause chain, or null. */
    public static DeviceMemoryException in(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) if (c instanceof DeviceMemoryException d) return d;
        return null;
    }
}
