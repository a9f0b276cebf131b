package kiln.backend.cuda;

import kiln.Log;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * One GPU, driven by one platform thread that owns its (primary) context. A CUDA context is current per OS
 * thread, and virtual threads hop between carriers, so every driver call for this device runs on its owner
 * thread: {@link #call} runs inline when already there and hands the work over otherwise. Several devices in one
 * JVM each have their own thread, stream and module (tensor parallelism later).
 */
public final class CudaDevice implements AutoCloseable {
    private static final int ATTR_SM_COUNT = 16, ATTR_L2 = 38, ATTR_CC_MAJOR = 75, ATTR_CC_MINOR = 76, ATTR_SMEM_OPTIN = 97;

    public final int ordinal;
    public final String name;
    public final int smCount, ccMajor, ccMinor, l2Bytes, maxSharedPerBlock;
    public final long totalBytes;
    private final ExecutorService owner;
    private final Thread ownerThread;
    private MemorySegment context, stream;
    private Kernels kernels;
    private boolean closed;

    /** Is a usable driver with at least one device present? Null when yes, else the reason. */
    public static String unavailableReason() {
        String e = Driver.loadError();
        if (e != null) return e;
        try {
            Driver.init();
            int n = Driver.deviceCount();
            return n > 0 ? null : "the CUDA driver reports no device";
        } catch (RuntimeException ex) {
            return ex.getMessage();
        }
    }

    public static int count() {
        Driver.init();
        return Driver.deviceCount();
    }

    public CudaDevice(int ordinal) {
        String reason = Driver.loadError();
        if (reason != null) throw new CudaException(reason);
        this.ordinal = ordinal;
        Thread[] t = new Thread[1];
        owner = Executors.newSingleThreadExecutor(r -> {
            Thread th = Thread.ofPlatform().daemon().name("kiln-cuda-" + ordinal).unstarted(r);
            t[0] = th;
            return th;
        });
        int[] ints = new int[6];
        long[] total = new long[1];
        String[] nm = new String[1];
        try {
            owner.submit(() -> {
                Driver.init();
                int n = Driver.deviceCount();
                if (ordinal < 0 || ordinal >= n) throw new CudaException("CUDA device " + ordinal + " does not exist (" + n + " present)");
                int dev = Driver.device(ordinal);
                context = Driver.primaryContext(dev);
                Driver.setCurrent(context);
                nm[0] = Driver.deviceName(dev);
                ints[0] = Driver.attribute(ATTR_SM_COUNT, dev);
                ints[1] = Driver.attribute(ATTR_CC_MAJOR, dev);
                ints[2] = Driver.attribute(ATTR_CC_MINOR, dev);
                ints[3] = Driver.attribute(ATTR_L2, dev);
                ints[4] = Driver.attribute(ATTR_SMEM_OPTIN, dev);
                total[0] = Driver.totalMem(dev);
                stream = Driver.createStream();
                current = stream;
                return null;
            }).get();
        } catch (InterruptedException | ExecutionException e) {
            owner.shutdownNow();
            throw unwrap(e);
        }
        ownerThread = t[0];
        name = nm[0];
        smCount = ints[0];
        ccMajor = ints[1];
        ccMinor = ints[2];
        l2Bytes = ints[3];
        maxSharedPerBlock = ints[4];
        totalBytes = total[0];
        Log.info("CUDA device %d: %s, compute capability %d.%d, %d SMs, %.1f GiB, driver %d", ordinal, name, ccMajor, ccMinor,
                smCount, totalBytes / 1073741824.0, call(Driver::driverVersion));
    }

    public boolean onOwnerThread() {
        return Thread.currentThread() == ownerThread;
    }

    /** Runs {@code work} on the device's thread (inline when already on it) and returns its result. */
    public <T> T call(Callable<T> work) {
        if (onOwnerThread()) {
            try {
                return work.call();
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Exception e) {
                throw new CudaException(e.toString(), e);
            }
        }
        if (closed) throw new IllegalStateException("CUDA device " + ordinal + " is closed");
        Future<T> f = owner.submit(work);
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CudaException("interrupted while waiting for CUDA device " + ordinal, e);
        } catch (ExecutionException e) {
            throw unwrap(e);
        }
    }

    public void run(Runnable work) {
        call(() -> {
            work.run();
            return null;
        });
    }

    private static RuntimeException unwrap(Exception e) {
        Throwable c = e instanceof ExecutionException ? e.getCause() : e;
        if (c instanceof RuntimeException r) return r;
        if (c instanceof Error err) throw err;
        return new CudaException(String.valueOf(c), c);
    }

    /** The stream ops launch onto now: the device's stream, or its side stream inside {@link #onSide}. */
    MemorySegment stream() {
        return current;
    }

    // A second stream for work that only needs inputs already computed (DeepSeek's shared experts beside the
    // router and the routed experts): forked from and joined back into the main stream with events, so it is
    // captured into CUDA graphs as a parallel branch.
    private MemorySegment current, side, forked, finished;
    private boolean sidePending;

    /** Runs {@code work}'s launches on the side stream, after everything queued so far; {@link #joinSide} ends it. */
    <T> T onSide(java.util.function.Supplier<T> work) {
        if (!onOwnerThread()) throw new IllegalStateException("side stream used off the device thread");
        if (current != stream) return work.get();  // already on the side stream
        if (side == null) {
            side = Driver.createStream();
            forked = Driver.createEvent(Driver.EVENT_DISABLE_TIMING);
            finished = Driver.createEvent(Driver.EVENT_DISABLE_TIMING);
        }
        joinSide();
        Driver.record(forked, stream);
        Driver.waitEvent(side, forked);
        current = side;
        try {
            return work.get();
        } finally {
            current = stream;
            Driver.record(finished, side);
            sidePending = true;
        }
    }

    /** The main stream waits for the side stream's work (no-op when none is pending). */
    void joinSide() {
        if (!sidePending) return;
        Driver.waitEvent(stream, finished);
        sidePending = false;
    }

    /**
     * The kernels module, loaded on first use (on the owner thread) with that caller's flags: backends sharing a
     * device share its module, its launch mode (PDL) and its trace.
     */
    Kernels kernels(CudaFlags flags) {
        if (kernels == null) kernels = new Kernels(this, flags);
        return kernels;
    }

    /**
     * Milliseconds of device time that {@code work} (run on the device thread, launching onto the device's
     * stream) takes, measured with events around it; {@code repeats} runs, the mean returned.
     */
    public double timeMs(Runnable work, int repeats) {
        return call(() -> {
            MemorySegment start = Driver.createEvent(), end = Driver.createEvent();
            try {
                Driver.record(start, stream);
                for (int i = 0; i < repeats; i++) work.run();
                Driver.record(end, stream);
                Driver.synchronizeEvent(end);
                return (double) Driver.elapsedMs(start, end) / repeats;
            } finally {
                Driver.destroyEvent(start);
                Driver.destroyEvent(end);
            }
        });
    }

    public void synchronize() {
        run(() -> {
            joinSide();
            Driver.synchronize(stream, "device synchronize");
        });
    }

    /** {free, total} device memory in bytes. */
    public long[] memInfo() {
        return call(Driver::memInfo);
    }

    @Override
    public void close() {
        if (closed) return;
        try {
            run(() -> {
                joinSide();
                Driver.synchronize(stream, "close");
                if (kernels != null) kernels.close();
                if (side != null) {
                    Driver.destroyStream(side);
                    Driver.destroyEvent(forked);
                    Driver.destroyEvent(finished);
                }
                Driver.destroyStream(stream);
                Driver.releasePrimaryContext(Driver.device(ordinal));
            });
        } finally {
            closed = true;
            owner.shutdown();
        }
    }
}
