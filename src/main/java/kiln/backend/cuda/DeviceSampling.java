package kiln.backend.cuda;

import kiln.backend.LogitConstraints;
import kiln.backend.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Sampling where the logits are: only the chosen token ids cross the bus (Backend.sample's definition). */
final class DeviceSampling {
    private final CudaContext ctx;
    private final LogitMaskKernels masks;

    DeviceSampling(CudaContext ctx) {
        this.ctx = ctx;
        this.masks = new LogitMaskKernels(ctx.kernels);
    }

    /**
     * Structured output's masks and logit_bias written into the logits in place: one upload of the rows, masks and
     * bias entries (a mask is ceil(vocab / 64) longs), two launches; nothing comes back.
     */
    Tensor constrain(Tensor logits, LogitConstraints c) {
        CudaTensor l = ctx.check(logits);
        c.check(l.rows(), l.cols());
        if (c.isEmpty()) return logits;
        int m = c.maskRows().length, n = c.biasRows().length;
        ctx.opCall(() -> "constrain masks=" + m + " biases=" + n, () -> {
            long mark = ctx.arena.mark();
            // one buffer: the masks (8-byte aligned first), mask rows, bias rows, bias ids, bias values
            long maskBytes = 8L * c.masks().length, bytes = maskBytes + 4L * m + 12L * n;
            long dev = ctx.scratch(bytes, "logit constraints");
            MemorySegment host = MemorySegment.ofArray(new long[(int) ((bytes + 7) / 8)]);
            MemorySegment.copy(c.masks(), 0, host, ValueLayout.JAVA_LONG_UNALIGNED, 0, c.masks().length);
            MemorySegment.copy(c.maskRows(), 0, host, ValueLayout.JAVA_INT_UNALIGNED, maskBytes, m);
            long biasAt = maskBytes + 4L * m;
            MemorySegment.copy(c.biasRows(), 0, host, ValueLayout.JAVA_INT_UNALIGNED, biasAt, n);
            MemorySegment.copy(c.biasIds(), 0, host, ValueLayout.JAVA_INT_UNALIGNED, biasAt + 4L * n, n);
            MemorySegment.copy(c.biasValues(), 0, host, ValueLayout.JAVA_FLOAT_UNALIGNED, biasAt + 8L * n, n);
            ctx.transfers.uploadAsync(dev, host, bytes);
            if (n > 0) masks.bias(ctx.precision, l.ptr(), l.ld(), dev + biasAt, dev + biasAt + 4L * n, dev + biasAt + 8L * n, n);
            if (m > 0) masks.mask(ctx.precision, l.ptr(), l.ld(), l.cols(), dev + maskBytes, dev, c.words(), m);
            ctx.arena.release(mark);
            return null;
        });
        return logits;
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
