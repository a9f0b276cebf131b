package kiln.model;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Host memory for one weight piece, freed once the piece is unreachable. A CPU backend keeps the piece as its
 * weight, so the memory lives as long as the model; a GPU backend copies it to the device and drops it, so a rank
 * holds no host copy of its part (8 ranks of DeepSeek-R1 would otherwise hold 690 GB of host memory until loaded).
 *
 * <p>Not {@code Arena.ofAuto()}: the JDK counts automatic segments against {@code -XX:MaxDirectMemorySize} (by default
 * the heap's size), which a CPU model's weights exceed. Not a shared arena per piece: closing one is a handshake
 * with every thread, tens of thousands of times per rank. So the C allocator, with an automatic arena's cleanup.
 */
final class PieceMemory {
    private PieceMemory() {}

    private static final long ALIGN = 64;
    private static final MethodHandle ALIGNED_ALLOC, FREE;

    static {
        Linker c = Linker.nativeLinker();
        ALIGNED_ALLOC = c.downcallHandle(c.defaultLookup().find("aligned_alloc").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
        FREE = c.downcallHandle(c.defaultLookup().find("free").orElseThrow(), FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
    }

    /** {@code bytes} of uninitialised memory, 64-byte aligned, freed when no segment of it is reachable. */
    static MemorySegment allocate(long bytes) {
        long size = Math.max(ALIGN, (bytes + ALIGN - 1) / ALIGN * ALIGN);
        MemorySegment p;
        try {
            p = (MemorySegment) ALIGNED_ALLOC.invokeExact(ALIGN, size);
        } catch (Throwable t) {
            throw new IllegalStateException("aligned_alloc failed", t);
        }
        if (p.equals(MemorySegment.NULL)) throw new OutOfMemoryError("cannot allocate " + size + " bytes of host memory for a weight");
        return p.reinterpret(size, Arena.ofAuto(), PieceMemory::free).asSlice(0, bytes);
    }

    private static void free(MemorySegment p) {
        try {
            FREE.invokeExact(p);
        } catch (Throwable t) {
            throw new IllegalStateException("free failed", t);
        }
    }
}
