package kiln.backend.cuda;

import kiln.backend.DeviceMemoryException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

import static kiln.backend.cuda.Native.FLOAT;
import static kiln.backend.cuda.Native.INT;
import static kiln.backend.cuda.Native.LONG;
import static kiln.backend.cuda.Native.PTR;

/**
 * The CUDA driver API (libcuda.so.1) through FFM downcalls. Versioned entry points are bound by the names the
 * CUDA 13 header maps the plain names to (cuMemAlloc -> cuMemAlloc_v2, ...). Every call's status is checked; a
 * failure throws {@link CudaException} naming the call and the driver's error name and text.
 *
 * <p>Handles (contexts, modules, functions, streams, events, graphs) are {@link MemorySegment} addresses;
 * device pointers are longs.
 */
final class Driver {
    private Driver() {}

    private static final String LIB = "libcuda.so.1";
    private static final String LOAD_ERROR;
    private static final SymbolLookup CUDA;

    static {
        SymbolLookup lib = null;
        String error = null;
        try {
            lib = SymbolLookup.libraryLookup(LIB, Arena.global());
        } catch (IllegalArgumentException | UnsatisfiedLinkError e) {
            error = LIB + " cannot be loaded (no NVIDIA driver on this machine?): " + e.getMessage();
        }
        CUDA = lib;
        LOAD_ERROR = error;
    }

    /** Why the driver is unusable, or null when libcuda loaded. */
    static String loadError() {
        return LOAD_ERROR;
    }

    private static final class H {
        static final MethodHandle getErrorName = fn("cuGetErrorName", INT, PTR);
        static final MethodHandle getErrorString = fn("cuGetErrorString", INT, PTR);
        static final MethodHandle init = fn("cuInit", INT);
        static final MethodHandle driverGetVersion = fn("cuDriverGetVersion", PTR);
        static final MethodHandle deviceGetCount = fn("cuDeviceGetCount", PTR);
        static final MethodHandle deviceGet = fn("cuDeviceGet", PTR, INT);
        static final MethodHandle deviceGetName = fn("cuDeviceGetName", PTR, INT, INT);
        static final MethodHandle deviceGetAttribute = fn("cuDeviceGetAttribute", PTR, INT, INT);
        static final MethodHandle deviceTotalMem = fn("cuDeviceTotalMem_v2", PTR, INT);
        static final MethodHandle primaryCtxRetain = fn("cuDevicePrimaryCtxRetain", PTR, INT);
        static final MethodHandle primaryCtxRelease = fn("cuDevicePrimaryCtxRelease_v2", INT);
        static final MethodHandle ctxSetCurrent = fn("cuCtxSetCurrent", PTR);
        static final MethodHandle memGetInfo = fn("cuMemGetInfo_v2", PTR, PTR);
        static final MethodHandle memAlloc = fn("cuMemAlloc_v2", PTR, LONG);
        static final MethodHandle memFree = fn("cuMemFree_v2", LONG);
        static final MethodHandle memAllocHost = fn("cuMemAllocHost_v2", PTR, LONG);
        static final MethodHandle memFreeHost = fn("cuMemFreeHost", PTR);
        static final MethodHandle memcpyHtoDAsync = fn("cuMemcpyHtoDAsync_v2", LONG, PTR, LONG, PTR);
        static final MethodHandle memcpyDtoHAsync = fn("cuMemcpyDtoHAsync_v2", PTR, LONG, LONG, PTR);
        static final MethodHandle memcpyDtoDAsync = fn("cuMemcpyDtoDAsync_v2", LONG, LONG, LONG, PTR);
        static final MethodHandle memsetD8Async = fn("cuMemsetD8Async", LONG, ValueLayout.JAVA_BYTE, LONG, PTR);
        static final MethodHandle moduleLoadData = fn("cuModuleLoadData", PTR, PTR);
        static final MethodHandle moduleUnload = fn("cuModuleUnload", PTR);
        static final MethodHandle moduleGetFunction = fn("cuModuleGetFunction", PTR, PTR, PTR);
        static final MethodHandle funcSetAttribute = fn("cuFuncSetAttribute", PTR, INT, INT);
        static final MethodHandle launchKernel = fn("cuLaunchKernel", PTR, INT, INT, INT, INT, INT, INT, INT, PTR, PTR, PTR);
        static final MethodHandle launchKernelEx = fn("cuLaunchKernelEx", PTR, PTR, PTR, PTR);
        static final MethodHandle streamCreate = fn("cuStreamCreate", PTR, INT);
        static final MethodHandle streamSynchronize = fn("cuStreamSynchronize", PTR);
        static final MethodHandle streamDestroy = fn("cuStreamDestroy_v2", PTR);
        static final MethodHandle eventCreate = fn("cuEventCreate", PTR, INT);
        static final MethodHandle eventRecord = fn("cuEventRecord", PTR, PTR);
        static final MethodHandle streamWaitEvent = fn("cuStreamWaitEvent", PTR, PTR, INT);
        static final MethodHandle eventSynchronize = fn("cuEventSynchronize", PTR);
        static final MethodHandle eventElapsedTime = fn("cuEventElapsedTime_v2", PTR, PTR, PTR);
        static final MethodHandle eventDestroy = fn("cuEventDestroy_v2", PTR);
        static final MethodHandle streamBeginCapture = fn("cuStreamBeginCapture_v2", PTR, INT);
        static final MethodHandle streamEndCapture = fn("cuStreamEndCapture", PTR, PTR);
        static final MethodHandle graphInstantiate = fn("cuGraphInstantiateWithFlags", PTR, PTR, LONG);
        static final MethodHandle graphLaunch = fn("cuGraphLaunch", PTR, PTR);
        static final MethodHandle graphExecDestroy = fn("cuGraphExecDestroy", PTR);
        static final MethodHandle graphDestroy = fn("cuGraphDestroy", PTR);

        private static MethodHandle fn(String name, java.lang.foreign.MemoryLayout... args) {
            if (CUDA == null) throw new CudaException(LOAD_ERROR);
            return Native.require(CUDA, LIB, name, args);
        }
    }

    // ---- errors ----

    static void check(int rc, String call) {
        if (rc != 0) throw new CudaException(call + " failed: " + describe(rc));
    }

    static String describe(int rc) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(PTR);
            String name = (int) H.getErrorName.invokeExact(rc, p) == 0 ? cString(p) : "CUresult " + rc;
            String text = (int) H.getErrorString.invokeExact(rc, p) == 0 ? cString(p) : "";
            return name + " (" + rc + ")" + (text.isEmpty() ? "" : ": " + text);
        } catch (Throwable t) {
            return "CUresult " + rc;
        }
    }

    private static String cString(MemorySegment pointerToPointer) {
        MemorySegment s = pointerToPointer.get(PTR, 0);
        return s.equals(MemorySegment.NULL) ? "" : s.reinterpret(4096).getString(0);
    }

    static RuntimeException rethrow(Throwable t, String call) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new CudaException(call + ": " + t, t);
    }

    // ---- device and context ----

    static void init() {
        try {
            check((int) H.init.invokeExact(0), "cuInit");
        } catch (Throwable t) {
            throw rethrow(t, "cuInit");
        }
    }

    static int driverVersion() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(INT);
            check((int) H.driverGetVersion.invokeExact(v), "cuDriverGetVersion");
            return v.get(INT, 0);
        } catch (Throwable t) {
            throw rethrow(t, "cuDriverGetVersion");
        }
    }

    static int deviceCount() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(INT);
            check((int) H.deviceGetCount.invokeExact(v), "cuDeviceGetCount");
            return v.get(INT, 0);
        } catch (Throwable t) {
            throw rethrow(t, "cuDeviceGetCount");
        }
    }

    static int device(int ordinal) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(INT);
            check((int) H.deviceGet.invokeExact(v, ordinal), "cuDeviceGet(" + ordinal + ")");
            return v.get(INT, 0);
        } catch (Throwable t) {
            throw rethrow(t, "cuDeviceGet");
        }
    }

    static String deviceName(int dev) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(256);
            check((int) H.deviceGetName.invokeExact(v, 256, dev), "cuDeviceGetName");
            return v.getString(0);
        } catch (Throwable t) {
            throw rethrow(t, "cuDeviceGetName");
        }
    }

    static int attribute(int attr, int dev) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(INT);
            check((int) H.deviceGetAttribute.invokeExact(v, attr, dev), "cuDeviceGetAttribute(" + attr + ")");
            return v.get(INT, 0);
        } catch (Throwable t) {
            throw rethrow(t, "cuDeviceGetAttribute");
        }
    }

    static long totalMem(int dev) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(LONG);
            check((int) H.deviceTotalMem.invokeExact(v, dev), "cuDeviceTotalMem_v2");
            return v.get(LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t, "cuDeviceTotalMem_v2");
        }
    }

    static MemorySegment primaryContext(int dev) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(PTR);
            check((int) H.primaryCtxRetain.invokeExact(v, dev), "cuDevicePrimaryCtxRetain(" + dev + ")");
            return v.get(PTR, 0);
        } catch (Throwable t) {
            throw rethrow(t, "cuDevicePrimaryCtxRetain");
        }
    }

    static void releasePrimaryContext(int dev) {
        try {
            check((int) H.primaryCtxRelease.invokeExact(dev), "cuDevicePrimaryCtxRelease_v2");
        } catch (Throwable t) {
            throw rethrow(t, "cuDevicePrimaryCtxRelease_v2");
        }
    }

    static void setCurrent(MemorySegment ctx) {
        try {
            check((int) H.ctxSetCurrent.invokeExact(ctx), "cuCtxSetCurrent");
        } catch (Throwable t) {
            throw rethrow(t, "cuCtxSetCurrent");
        }
    }

    /** {free, total} bytes of the current context's device. */
    static long[] memInfo() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment f = a.allocate(LONG), tot = a.allocate(LONG);
            check((int) H.memGetInfo.invokeExact(f, tot), "cuMemGetInfo_v2");
            return new long[]{f.get(LONG, 0), tot.get(LONG, 0)};
        } catch (Throwable t) {
            throw rethrow(t, "cuMemGetInfo_v2");
        }
    }

    // ---- memory ----

    static long alloc(long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(LONG);
            int rc = (int) H.memAlloc.invokeExact(v, Math.max(bytes, 1L));
            if (rc == 2) {  // CUDA_ERROR_OUT_OF_MEMORY: the caller may know what it was allocating and say so
                long[] info = safeMemInfo();
                long free = info == null ? -1 : info[0], total = info == null ? -1 : info[1];
                String room = DeviceMemoryException.freeOfTotal(free, total);
                throw new DeviceMemoryException("cuMemAlloc_v2(" + bytes + " bytes) failed: " + describe(rc) + (room == null ? "" : " (" + room + ")"),
                        bytes, free, total);
            }
            if (rc != 0) throw new CudaException("cuMemAlloc_v2(" + bytes + " bytes) failed: " + describe(rc));
            return v.get(LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t, "cuMemAlloc_v2");
        }
    }

    private static long[] safeMemInfo() {
        try {
            return memInfo();
        } catch (RuntimeException e) {
            return null;
        }
    }

    static void free(long ptr) {
        try {
            check((int) H.memFree.invokeExact(ptr), "cuMemFree_v2");
        } catch (Throwable t) {
            throw rethrow(t, "cuMemFree_v2");
        }
    }

    /** Page-locked host memory of {@code bytes}, for asynchronous copies. */
    static MemorySegment allocHost(long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(PTR);
            check((int) H.memAllocHost.invokeExact(v, bytes), "cuMemAllocHost_v2(" + bytes + " bytes)");
            return v.get(PTR, 0).reinterpret(bytes);
        } catch (Throwable t) {
            throw rethrow(t, "cuMemAllocHost_v2");
        }
    }

    static void freeHost(MemorySegment p) {
        try {
            check((int) H.memFreeHost.invokeExact(p), "cuMemFreeHost");
        } catch (Throwable t) {
            throw rethrow(t, "cuMemFreeHost");
        }
    }

    static void copyToDevice(long dst, MemorySegment src, long bytes, MemorySegment stream) {
        try {
            check((int) H.memcpyHtoDAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyHtoDAsync_v2(" + bytes + " bytes)");
        } catch (Throwable t) {
            throw rethrow(t, "cuMemcpyHtoDAsync_v2");
        }
    }

    static void copyToHost(MemorySegment dst, long src, long bytes, MemorySegment stream) {
        try {
            check((int) H.memcpyDtoHAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyDtoHAsync_v2(" + bytes + " bytes)");
        } catch (Throwable t) {
            throw rethrow(t, "cuMemcpyDtoHAsync_v2");
        }
    }

    static void copyOnDevice(long dst, long src, long bytes, MemorySegment stream) {
        try {
            check((int) H.memcpyDtoDAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyDtoDAsync_v2(" + bytes + " bytes)");
        } catch (Throwable t) {
            throw rethrow(t, "cuMemcpyDtoDAsync_v2");
        }
    }

    static void memset(long dst, int value, long bytes, MemorySegment stream) {
        try {
            check((int) H.memsetD8Async.invokeExact(dst, (byte) value, bytes, stream), "cuMemsetD8Async(" + bytes + " bytes)");
        } catch (Throwable t) {
            throw rethrow(t, "cuMemsetD8Async");
        }
    }

    // ---- modules and launches ----

    static MemorySegment loadModule(MemorySegment image) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(PTR);
            check((int) H.moduleLoadData.invokeExact(v, image), "cuModuleLoadData(" + image.byteSize() + " bytes of fatbin)");
            return v.get(PTR, 0);
        } catch (Throwable t) {
            throw rethrow(t, "cuModuleLoadData");
        }
    }

    static void unloadModule(MemorySegment module) {
        try {
            check((int) H.moduleUnload.invokeExact(module), "cuModuleUnload");
        } catch (Throwable t) {
            throw rethrow(t, "cuModuleUnload");
        }
    }

    static MemorySegment function(MemorySegment module, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(PTR);
            check((int) H.moduleGetFunction.invokeExact(v, module, a.allocateFrom(name)), "cuModuleGetFunction(" + name + ")");
            return v.get(PTR, 0);
        } catch (Throwable t) {
            throw rethrow(t, "cuModuleGetFunction(" + name + ")");
        }
    }

    /** cuFuncGetParamInfo (CUDA 12.4+), or null where the driver lacks it (then kernel signatures go unchecked). */
    private static final class ParamInfo {
        static final MethodHandle get = CUDA == null ? null : Native.status(CUDA, "cuFuncGetParamInfo", PTR, LONG, PTR, PTR);
    }

    private static final int CUDA_ERROR_INVALID_VALUE = 1;

    /**
     * The byte size of each parameter of {@code fn} as the loaded module declares it, or null when the driver
     * cannot tell (no cuFuncGetParamInfo).
     */
    static long[] paramSizes(MemorySegment fn, String name) {
        if (ParamInfo.get == null) return null;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment offset = a.allocate(LONG), size = a.allocate(LONG);
            java.util.List<Long> sizes = new java.util.ArrayList<>();
            for (long i = 0; ; i++) {
                int rc = (int) ParamInfo.get.invokeExact(fn, i, offset, size);
                if (rc == CUDA_ERROR_INVALID_VALUE) break;  // past the last parameter
                check(rc, "cuFuncGetParamInfo(" + name + ", " + i + ")");
                sizes.add(size.get(LONG, 0));
            }
            return sizes.stream().mapToLong(Long::longValue).toArray();
        } catch (Throwable t) {
            throw rethrow(t, "cuFuncGetParamInfo(" + name + ")");
        }
    }

    static final int FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;

    static void setFunctionAttribute(MemorySegment fn, int attr, int value, String name) {
        try {
            check((int) H.funcSetAttribute.invokeExact(fn, attr, value), "cuFuncSetAttribute(" + name + ", " + attr + ", " + value + ")");
        } catch (Throwable t) {
            throw rethrow(t, "cuFuncSetAttribute");
        }
    }

    /** Launches; returns the raw status so the caller can name the kernel and its grid in the error. */
    static int launch(MemorySegment fn, int gx, int gy, int gz, int bx, int by, int bz, int smem, MemorySegment stream,
                      MemorySegment params) {
        try {
            return (int) H.launchKernel.invokeExact(fn, gx, gy, gz, bx, by, bz, smem, stream, params, MemorySegment.NULL);
        } catch (Throwable t) {
            throw rethrow(t, "cuLaunchKernel");
        }
    }

    // CUlaunchConfig (cuda.h): grid x/y/z, block x/y/z, shared bytes (7 uints), pad, stream at 32, attribute array
    // at 40, attribute count at 48; 56 bytes. CUlaunchAttribute: a 4-byte id padded to 8, then a 64-byte value union.
    private static final long LAUNCH_CONFIG_BYTES = 56, LAUNCH_ATTRIBUTE_BYTES = 72;
    private static final int LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION = 6;

    /** A reusable CUlaunchConfig in {@code arena} carrying one attribute: programmatic stream serialization (PDL). */
    static MemorySegment programmaticLaunchConfig(Arena arena) {
        MemorySegment config = arena.allocate(LAUNCH_CONFIG_BYTES + LAUNCH_ATTRIBUTE_BYTES, 8);
        MemorySegment attr = config.asSlice(LAUNCH_CONFIG_BYTES);
        attr.set(ValueLayout.JAVA_INT, 0, LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION);
        attr.set(ValueLayout.JAVA_INT, 8, 1);
        config.set(ValueLayout.ADDRESS, 40, attr);
        config.set(ValueLayout.JAVA_INT, 48, 1);
        return config;
    }

    /** cuLaunchKernelEx through a {@link #programmaticLaunchConfig}, filled with this grid, block, shared size and stream. */
    static int launchEx(MemorySegment config, MemorySegment fn, int gx, int gy, int gz, int block, int smem, MemorySegment stream,
                        MemorySegment params) {
        config.set(ValueLayout.JAVA_INT, 0, gx);
        config.set(ValueLayout.JAVA_INT, 4, gy);
        config.set(ValueLayout.JAVA_INT, 8, gz);
        config.set(ValueLayout.JAVA_INT, 12, block);
        config.set(ValueLayout.JAVA_INT, 16, 1);
        config.set(ValueLayout.JAVA_INT, 20, 1);
        config.set(ValueLayout.JAVA_INT, 24, smem);
        config.set(ValueLayout.ADDRESS, 32, stream);
        try {
            return (int) H.launchKernelEx.invokeExact(config, fn, params, MemorySegment.NULL);
        } catch (Throwable t) {
            throw rethrow(t, "cuLaunchKernelEx");
        }
    }

    // ---- streams, events, graphs ----

    static final int STREAM_NON_BLOCKING = 1;

    static MemorySegment createStream() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(PTR);
            check((int) H.streamCreate.invokeExact(v, STREAM_NON_BLOCKING), "cuStreamCreate");
            return v.get(PTR, 0);
        } catch (Throwable t) {
            throw rethrow(t, "cuStreamCreate");
        }
    }

    static void synchronize(MemorySegment stream, String after) {
        try {
            int rc = (int) H.streamSynchronize.invokeExact(stream);
            if (rc != 0) throw new CudaException("cuStreamSynchronize after " + after + " failed: " + describe(rc));
        } catch (Throwable t) {
            throw rethrow(t, "cuStreamSynchronize");
        }
    }

    static void destroyStream(MemorySegment stream) {
        try {
            check((int) H.streamDestroy.invokeExact(stream), "cuStreamDestroy_v2");
        } catch (Throwable t) {
            throw rethrow(t, "cuStreamDestroy_v2");
        }
    }

    static MemorySegment createEvent() {
        return createEvent(0);
    }

    static final int EVENT_DISABLE_TIMING = 2;

    static MemorySegment createEvent(int flags) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(PTR);
            check((int) H.eventCreate.invokeExact(v, flags), "cuEventCreate");
            return v.get(PTR, 0);
        } catch (Throwable t) {
            throw rethrow(t, "cuEventCreate");
        }
    }

    static void record(MemorySegment event, MemorySegment stream) {
        try {
            check((int) H.eventRecord.invokeExact(event, stream), "cuEventRecord");
        } catch (Throwable t) {
            throw rethrow(t, "cuEventRecord");
        }
    }

    /** Work later queued on {@code stream} waits for {@code event} (during a capture: a dependency edge). */
    static void waitEvent(MemorySegment stream, MemorySegment event) {
        try {
            check((int) H.streamWaitEvent.invokeExact(stream, event, 0), "cuStreamWaitEvent");
        } catch (Throwable t) {
            throw rethrow(t, "cuStreamWaitEvent");
        }
    }

    static void synchronizeEvent(MemorySegment event) {
        try {
            check((int) H.eventSynchronize.invokeExact(event), "cuEventSynchronize");
        } catch (Throwable t) {
            throw rethrow(t, "cuEventSynchronize");
        }
    }

    static float elapsedMs(MemorySegment start, MemorySegment end) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(FLOAT);
            check((int) H.eventElapsedTime.invokeExact(v, start, end), "cuEventElapsedTime_v2");
            return v.get(FLOAT, 0);
        } catch (Throwable t) {
            throw rethrow(t, "cuEventElapsedTime_v2");
        }
    }

    static void destroyEvent(MemorySegment event) {
        try {
            check((int) H.eventDestroy.invokeExact(event), "cuEventDestroy_v2");
        } catch (Throwable t) {
            throw rethrow(t, "cuEventDestroy_v2");
        }
    }

    static final int CAPTURE_MODE_THREAD_LOCAL = 1;

    static void beginCapture(MemorySegment stream) {
        try {
            check((int) H.streamBeginCapture.invokeExact(stream, CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture_v2");
        } catch (Throwable t) {
            throw rethrow(t, "cuStreamBeginCapture_v2");
        }
    }

    static MemorySegment endCapture(MemorySegment stream) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(PTR);
            check((int) H.streamEndCapture.invokeExact(stream, v), "cuStreamEndCapture");
            return v.get(PTR, 0);
        } catch (Throwable t) {
            throw rethrow(t, "cuStreamEndCapture");
        }
    }

    static MemorySegment instantiate(MemorySegment graph) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(PTR);
            check((int) H.graphInstantiate.invokeExact(v, graph, 0L), "cuGraphInstantiateWithFlags");
            return v.get(PTR, 0);
        } catch (Throwable t) {
            throw rethrow(t, "cuGraphInstantiateWithFlags");
        }
    }

    static void launchGraph(MemorySegment exec, MemorySegment stream) {
        try {
            check((int) H.graphLaunch.invokeExact(exec, stream), "cuGraphLaunch");
        } catch (Throwable t) {
            throw rethrow(t, "cuGraphLaunch");
        }
    }

    static void destroyGraphExec(MemorySegment exec) {
        try {
            check((int) H.graphExecDestroy.invokeExact(exec), "cuGraphExecDestroy");
        } catch (Throwable t) {
            throw rethrow(t, "cuGraphExecDestroy");
        }
    }

    static void destroyGraph(MemorySegment graph) {
        try {
            check((int) H.graphDestroy.invokeExact(graph), "cuGraphDestroy");
        } catch (Throwable t) {
            throw rethrow(t, "cuGraphDestroy");
        }
    }
}
