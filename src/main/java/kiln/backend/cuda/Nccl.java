package kiln.backend.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

import static kiln.backend.cuda.Native.INT;
import static kiln.backend.cuda.Native.LONG;
import static kiln.backend.cuda.Native.PTR;

/**
 * NCCL (libnccl.so.2) through FFM downcalls: the unique id, one communicator per rank, the collectives Kiln's ranks
 * need (all-reduce sum, all-gather, broadcast) enqueued on a CUDA stream, and error strings. Every status is checked;
 * a failure throws {@link CudaException} naming the call and NCCL's text for the error.
 *
 * <p>Communicators are {@link MemorySegment} handles; buffers are device pointers (longs) of the device whose
 * context is current on the calling thread (the rank's device thread).
 */
final class Nccl {
    /** ncclUniqueId: 128 opaque bytes, passed by value to ncclCommInitRank. */
    static final MemoryLayout UNIQUE_ID = MemoryLayout.structLayout(MemoryLayout.sequenceLayout(128, ValueLayout.JAVA_BYTE).withName("internal"));
    /** ncclDataType_t values (nccl.h). */
    static final int FLOAT32 = 7, BFLOAT16 = 9;
    /** ncclRedOp_t ncclSum. */
    static final int SUM = 0;

    private final String library;
    private final MethodHandle getErrorString, getVersion, getUniqueId, commInitRank, commDestroy, commAbort, allReduce, allGather,
            broadcast;

    private Nccl(String library, SymbolLookup lib) {
        this.library = library;
        getErrorString = lib.find("ncclGetErrorString").map(a -> Native.LINKER.downcallHandle(a, FunctionDescriptor.of(PTR, INT))).orElse(null);
        getVersion = Native.require(lib, library, "ncclGetVersion", PTR);
        getUniqueId = Native.require(lib, library, "ncclGetUniqueId", PTR);
        commInitRank = Native.require(lib, library, "ncclCommInitRank", PTR, INT, UNIQUE_ID, INT);
        commDestroy = Native.require(lib, library, "ncclCommDestroy", PTR);
        commAbort = Native.require(lib, library, "ncclCommAbort", PTR);
        allReduce = Native.require(lib, library, "ncclAllReduce", LONG, LONG, LONG, INT, INT, PTR, PTR);
        allGather = Native.require(lib, library, "ncclAllGather", LONG, LONG, LONG, INT, PTR, PTR);
        broadcast = Native.require(lib, library, "ncclBroadcast", LONG, LONG, LONG, INT, INT, PTR, PTR);
    }

    /** Loads NCCL from {@code library} (a file name the dynamic loader finds, or a path); fails saying why. */
    static Nccl load(String library) {
        SymbolLookup lib;
        try {
            lib = SymbolLookup.libraryLookup(library.contains("/") ? java.nio.file.Path.of(library).toString() : library, Arena.global());
        } catch (IllegalArgumentException | UnsatisfiedLinkError e) {
            throw new CudaException(library + " cannot be loaded (NCCL is needed for tensor-parallel ranks on several GPUs;"
                    + " -Dkiln.cuda.ncclLibrary names another file): " + e.getMessage());
        }
        return new Nccl(library, lib);
    }

    private void check(int rc, String call) {
        if (rc == 0) return;
        String text = "";
        try {
            if (getErrorString != null) {
                MemorySegment s = (MemorySegment) getErrorString.invokeExact(rc);
                if (!s.equals(MemorySegment.NULL)) text = s.reinterpret(4096).getString(0);
            }
        } catch (Throwable ignored) {
            // the status number is still reported
        }
        throw new CudaException(call + " failed: ncclResult " + rc + (text.isEmpty() ? "" : " (" + text + ")"));
    }

    private static RuntimeException rethrow(Throwable t, String call) {
        return Driver.rethrow(t, call);
    }

    /** NCCL's version code, e.g. 22805 for 2.28.5. */
    int version() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(INT);
            check((int) getVersion.invokeExact(v), "ncclGetVersion");
            return v.get(INT, 0);
        } catch (Throwable t) {
            throw rethrow(t, "ncclGetVersion");
        }
    }

    String library() {
        return library;
    }

    /** A new unique id (made once, by rank 0's side, and given to every rank's {@link #commInitRank}). */
    MemorySegment uniqueId(Arena arena) {
        MemorySegment id = arena.allocate(UNIQUE_ID);
        try {
            check((int) getUniqueId.invokeExact(id), "ncclGetUniqueId");
        } catch (Throwable t) {
            throw rethrow(t, "ncclGetUniqueId");
        }
        return id;
    }

    /** Rank {@code rank}'s communicator of {@code size}; blocks until every rank has called it (each on its own thread). */
    MemorySegment commInitRank(int size, MemorySegment id, int rank) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment comm = a.allocate(PTR);
            check((int) commInitRank.invokeExact(comm, size, id, rank), "ncclCommInitRank(rank " + rank + " of " + size + ")");
            return comm.get(PTR, 0);
        } catch (Throwable t) {
            throw rethrow(t, "ncclCommInitRank");
        }
    }

    void commDestroy(MemorySegment comm) {
        try {
            check((int) commDestroy.invokeExact(comm), "ncclCommDestroy");
        } catch (Throwable t) {
            throw rethrow(t, "ncclCommDestroy");
        }
    }

    /** Ends a communicator whose collectives may never complete (a rank failed): its kernels in flight are stopped. */
    void commAbort(MemorySegment comm) {
        try {
            check((int) commAbort.invokeExact(comm), "ncclCommAbort");
        } catch (Throwable t) {
            throw rethrow(t, "ncclCommAbort");
        }
    }

    /** recv = the sum over ranks of send ({@code count} elements of {@code dtype}); send may be recv. */
    void allReduceSum(long send, long recv, long count, int dtype, MemorySegment comm, MemorySegment stream) {
        try {
            check((int) allReduce.invokeExact(send, recv, count, dtype, SUM, comm, stream), "ncclAllReduce");
        } catch (Throwable t) {
            throw rethrow(t, "ncclAllReduce");
        }
    }

    /** recv = rank 0's send, rank 1's send, ... ({@code count} elements each). */
    void allGather(long send, long recv, long count, int dtype, MemorySegment comm, MemorySegment stream) {
        try {
            check((int) allGather.invokeExact(send, recv, count, dtype, comm, stream), "ncclAllGather");
        } catch (Throwable t) {
            throw rethrow(t, "ncclAllGather");
        }
    }

    /** recv on every rank = root's send ({@code count} elements). */
    void broadcast(long send, long recv, long count, int dtype, int root, MemorySegment comm, MemorySegment stream) {
        try {
            check((int) broadcast.invokeExact(send, recv, count, dtype, root, comm, stream), "ncclBroadcast");
        } catch (Throwable t) {
            throw rethrow(t, "ncclBroadcast");
        }
    }

    static int dtype(Precision p) {
        return p == Precision.BFLOAT16 ? BFLOAT16 : FLOAT32;
    }
}
