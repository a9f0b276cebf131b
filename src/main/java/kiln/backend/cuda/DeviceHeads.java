package kiln.backend.cuda;

/**
 * Heads on the device as kernels take them: head h of row t at {@code ptr + (t * ld + h * stride) * element size}
 * ({@code ptr} already at the first head's first column).
 */
record DeviceHeads(long ptr, long ld, int stride) {
    /** The heads of {@code h} in tensor {@code t} (its offset applied). */
    static DeviceHeads of(CudaTensor t, kiln.backend.Heads h) {
        return new DeviceHeads(t.ptr() + h.offset() * t.elementBytes(), t.ld(), h.stride());
    }
}
