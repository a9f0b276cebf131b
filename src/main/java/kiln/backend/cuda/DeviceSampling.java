package kiln.backend.cuda;

import kiln.backend.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Sampling where the logits are: only the chosen token ids cross the bus (Backend.sample's definition). */
final class DeviceSampling {
    private final CudaContext ctx;

    DeviceSampling(CudaContext ctx) {
        this.ctx = ctx;
    }

    int[] argmax(Tensor logits) {
        CudaTensor l = ctx.check(logits);
        return ctx.opCall(() -> "argmax m=" + l.rows(), () -> {
            long mark = ctx.arena.mark();
            long out = ctx.scratch(4L * l.rows(), "argmax");
            ctx.elementwise.argmax(ctx.precision, l.ptr(), l.ld(), l.cols(), out, l.rows());
            int[] ids = ctx.transfers.downloadInts(out, l.rows());
            ctx.arena.release(mark);
            return ids;
        });
    }

    int[] sample(Tensor logits, float[] temperature, int[] topK, float[] topP, float[] uniform) {
        CudaTensor l = ctx.check(logits);
        int rows = l.rows();
        if (temperature.length != rows || topK.length != rows || topP.length != rows || uniform.length != rows) {
            throw new IllegalArgumentException("sample: parameters for " + temperature.length + " rows, logits have " + rows);
        }
        return ctx.opCall(() -> "sample m=" + rows, () -> {
            long mark = ctx.arena.mark();
            // the four parameter arrays in one upload: temperature, top_k, top_p, uniform, rows apart
            long params = ctx.scratch(16L * rows, "sampling parameters"), out = ctx.scratch(4L * rows, "sampled ids");
            MemorySegment host = MemorySegment.ofArray(new int[4 * rows]);
            MemorySegment.copy(temperature, 0, host, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, rows);
            MemorySegment.copy(topK, 0, host, ValueLayout.JAVA_INT_UNALIGNED, 4L * rows, rows);
            MemorySegment.copy(topP, 0, host, ValueLayout.JAVA_FLOAT_UNALIGNED, 8L * rows, rows);
            MemorySegment.copy(uniform, 0, host, ValueLayout.JAVA_FLOAT_UNALIGNED, 12L * rows, rows);
            ctx.transfers.uploadAsync(params, host, 16L * rows);
            ctx.elementwise.sample(ctx.precision, l.ptr(), l.ld(), l.cols(), params, params + 4L * rows, params + 8L * rows, params + 12L * rows, out, rows);
            int[] ids = ctx.transfers.downloadInts(out, rows);
            ctx.arena.release(mark);
            return ids;
        });
    }
}
