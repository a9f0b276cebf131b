package kiln.backend.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * Host-device copies of one backend: persistent device memory (weights, tables; freed when the backend closes)
 * filled synchronously, small per-forward uploads, and activation tensors from and to host floats through one
 * page-locked bounce buffer. None of it may run while a CUDA graph is captured. Device thread only.
 */
final class Transfers implements AutoCloseable {
    private final CudaContext ctx;
    private final CudaDevice device;
    private final List<Long> allocations = new ArrayList<>();
    private MemorySegment pinned;
    /** Per-step uploads that must not wait for the stream ({@link #uploadQueued}), two buffers used in turn. */
    private final Staging[] staging = new Staging[2];
    private int stagingTurn;

    Transfers(CudaContext ctx) {
        this.ctx = ctx;
        this.device = ctx.device;
    }

    /** Device memory that lives until the backend closes. */
    long allocate(long bytes) {
        long p = Driver.alloc(bytes);
        allocations.add(p);
        return p;
    }

    /** A persistent copy of {@code bytes} of {@code src} (heap or native), complete when this returns. */
    long persist(MemorySegment src, long bytes) {
        long dst = allocate(bytes);
        if (src.isNative()) {
            Driver.copyToDevice(dst, src, bytes, device.stream());
            Driver.synchronize(device.stream(), "weight upload");
        } else {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment tmp = a.allocate(bytes, 64);
                tmp.copyFrom(src.asSlice(0, bytes));
                Driver.copyToDevice(dst, tmp, bytes, device.stream());
                Driver.synchronize(device.stream(), "weight upload");
            }
        }
        return dst;
    }

    long persist(float[] v) {
        return persist(MemorySegment.ofArray(v), 4L * v.length);
    }

    long persist(long[] v) {
        return persist(MemorySegment.ofArray(v), 8L * v.length);
    }

    /** A small host array into existing device memory, queued on the stream through the bounce buffer. */
    void uploadAsync(long dst, MemorySegment src, long bytes) {
        MemorySegment p = pinned(bytes);
        Driver.synchronize(device.stream(), "staging upload");
        p.copyFrom(src.asSlice(0, bytes));
        Driver.copyToDevice(dst, p, bytes, device.stream());
    }

    /**
     * A small host array into existing device memory, queued on the stream without waiting for it: the bytes go
     * through the staging buffer the upload before last used, once that copy has finished (its event; normally long
     * done), so the host can prepare the next step while the device runs this one.
     */
    void uploadQueued(long dst, MemorySegment src, long bytes) {
        stagingTurn ^= 1;
        Staging s = staging[stagingTurn];
        if (s != null) s.copied().await();
        if (s == null || s.buffer().byteSize() < bytes) {
            if (s != null) s.close();
            s = staging[stagingTurn] = new Staging(Math.max(bytes, 64L << 10));
        }
        s.buffer().copyFrom(src.asSlice(0, bytes));
        Driver.copyToDevice(dst, s.buffer(), bytes, device.stream());
        s.copied().record(device.stream());
    }

    /** A page-locked buffer and the fence of the copy that last read it. */
    private record Staging(MemorySegment buffer, CopyFence copied) {
        Staging(long bytes) {
            this(Driver.allocHost(bytes), new CopyFence());
        }

        void close() {
            copied.close();
            Driver.freeHost(buffer);
        }
    }

    /** {@code count} ints from the device, after everything queued (the side stream joined). */
    int[] downloadInts(long src, int count) {
        MemorySegment p = pinned(4L * count);
        Driver.copyToHost(p, src, 4L * count, device.stream());
        device.joinSide();
        Driver.synchronize(device.stream(), "download of " + count + " ints");
        return p.asSlice(0, 4L * count).toArray(ValueLayout.JAVA_INT);
    }

    /** A new activation tensor (in the arena) holding {@code values}, row-major [rows, cols]. */
    CudaTensor upload(float[] values, int rows, int cols) {
        CudaTensor out = ctx.tensor(rows, cols);
        long tmp = ctx.scratch(4L * values.length, "upload");
        uploadAsync(tmp, MemorySegment.ofArray(values), 4L * values.length);
        ctx.elementwise.fromF32(ctx.precision, tmp, cols, out.ptr(), out.ld(), rows);
        return out;
    }

    /** The tensor's values as floats, after everything queued (the side stream joined). */
    float[] download(CudaTensor t) {
        long n = (long) t.rows() * t.cols();
        long mark = ctx.arena.mark();
        long packed = ctx.scratch(4 * n, "download of " + t.rows() + "x" + t.cols());
        ctx.elementwise.toF32(t.dtype(), t.ptr(), t.ld(), t.cols(), packed, t.rows());
        MemorySegment p = pinned(4 * n);
        Driver.copyToHost(p, packed, 4 * n, device.stream());
        device.joinSide();
        Driver.synchronize(device.stream(), "download of " + t.rows() + "x" + t.cols());
        ctx.arena.release(mark);
        return p.asSlice(0, 4 * n).toArray(ValueLayout.JAVA_FLOAT);
    }

    private MemorySegment pinned(long bytes) {
        if (pinned == null || pinned.byteSize() < bytes) {
            if (pinned != null) {
                Driver.synchronize(device.stream(), "pinned buffer growth");
                Driver.freeHost(pinned);
            }
            pinned = Driver.allocHost(Math.max(bytes, 1L << 20));
        }
        return pinned;
    }

    @Override
    public void close() {
        for (int i = 0; i < staging.length; i++) {  // their copies finished before the memory they wrote is freed
            if (staging[i] != null) staging[i].close();
            staging[i] = null;
        }
        for (long p : allocations) Driver.free(p);
        allocations.clear();
        if (pinned != null) Driver.freeHost(pinned);
        pinned = null;
    }
}
