package kiln.backend.cpu;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * The machine's memory bandwidth as the CPU kernels can use it: a streaming read of a buffer far larger than the
 * caches with all cores (what decode does to weights), and a copy (read + write). The ceiling decode is read against.
 */
public final class MemoryBandwidth {
    private MemoryBandwidth() {}

    public record Result(double readGBps, double copyGBps, long bytes) {}

    public static Result measure(long bytes, int repeats) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = arena.allocate(bytes, 64), b = arena.allocate(bytes, 64);
            a.fill((byte) 1);
            double bestRead = 0, bestCopy = 0;
            for (int r = 0; r < repeats; r++) {
                long t0 = System.nanoTime();
                float sink = read(a);
                double s = (System.nanoTime() - t0) / 1e9;
                if (sink == 42) System.out.print("");
                bestRead = Math.max(bestRead, bytes / s / 1e9);
                t0 = System.nanoTime();
                b.copyFrom(a);
                s = (System.nanoTime() - t0) / 1e9;
                bestCopy = Math.max(bestCopy, 2.0 * bytes / s / 1e9);
            }
            return new Result(bestRead, bestCopy, bytes);
        }
    }

    private static float read(MemorySegment m) {
        int chunks = Parallel.THREADS * 8;
        long per = m.byteSize() / chunks / 256 * 256;
        float[] partial = new float[chunks];
        Parallel.forRange(chunks, 1, (from, to) -> {
            for (int c = from; c < to; c++) {
                FloatVector a0 = FloatVector.zero(Linear.F), a1 = a0, a2 = a0, a3 = a0;
                int step = Linear.F.vectorByteSize();
                for (long o = c * per, end = o + per; o < end; o += 4L * step) {
                    a0 = a0.add(FloatVector.fromMemorySegment(Linear.F, m, o, ByteOrder.LITTLE_ENDIAN));
                    a1 = a1.add(FloatVector.fromMemorySegment(Linear.F, m, o + step, ByteOrder.LITTLE_ENDIAN));
                    a2 = a2.add(FloatVector.fromMemorySegment(Linear.F, m, o + 2L * step, ByteOrder.LITTLE_ENDIAN));
                    a3 = a3.add(FloatVector.fromMemorySegment(Linear.F, m, o + 3L * step, ByteOrder.LITTLE_ENDIAN));
                }
                partial[c] = Linear.sum(a0.add(a1).add(a2).add(a3));
            }
        });
        float s = 0;
        for (float p : partial) s += p;
        return s;
    }
}
