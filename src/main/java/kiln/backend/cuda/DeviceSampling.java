package kiln.backend.cuda;

import kiln.backend.LogitConstraints;
import kiln.backend.SampledIds;
import kiln.backend.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Sampling where the logits are: only the chosen token ids cross the bus (Backend.sample's definition), and the
 * host need not wait for them: each step's ids land in a slot of a two-slot ring, copied out behind an event, so
 * the next forward can read them as future tokens while the host fetches them when it gets to it.
 */
final class DeviceSampling {
    private final CudaContext ctx;
    private final LogitMaskKernels masks;
    private final IdRing ring;

    DeviceSampling(CudaContext ctx) {
        this.ctx = ctx;
        this.masks = new LogitMaskKernels(ctx.kernels);
        this.ring = new IdRing(ctx);
    }

    /**
     * Structured output's masks and logit_bias written into the logits in place: one upload of the rows, masks and
     * bias entries (a mask is ceil(vocab / 64) longs) queued without waiting for the stream, two launches; nothing
     * comes back.
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
            ctx.transfers.uploadQueued(dev, host, bytes);
            if (n > 0) masks.bias(ctx.precision, l.ptr(), l.ld(), dev + biasAt, dev + biasAt + 4L * n, dev + biasAt + 8L * n, n);
            if (m > 0) masks.mask(ctx.precision, l.ptr(), l.ld(), l.cols(), dev + maskBytes, dev, c.words(), m);
            ctx.arena.release(mark);
            return null;
        });
        return logits;
    }

    /** The ids of {@link #argmaxAsync}, on the host (waits for the device). */
    int[] argmax(Tensor logits) {
        return argmaxAsync(logits).await();
    }

    /** The ids of {@link #sampleAsync}, on the host (waits for the device). */
    int[] sample(Tensor logits, float[] temperature, int[] topK, float[] topP, float[] uniform) {
        return sampleAsync(logits, temperature, topK, topP, uniform).await();
    }

    /** Greedy ids into the next slot of the ring; returns before they reach the host. */
    SampledIds argmaxAsync(Tensor logits) {
        CudaTensor l = ctx.check(logits);
        return ctx.opCall(() -> "argmax m=" + l.rows(), () -> {
            IdSlot slot = ring.next(l.rows());
            ctx.elementwise.argmax(ctx.precision, l.ptr(), l.ld(), l.cols(), slot.ids, l.rows());
            return ring.send(slot, l.rows());
        });
    }

    /** Sampled ids into the next slot of the ring, the parameters uploaded through the slot's own staging. */
    SampledIds sampleAsync(Tensor logits, float[] temperature, int[] topK, float[] topP, float[] uniform) {
        CudaTensor l = ctx.check(logits);
        int rows = l.rows();
        if (temperature.length != rows || topK.length != rows || topP.length != rows || uniform.length != rows) {
            throw new IllegalArgumentException("sample: parameters for " + temperature.length + " rows, logits have " + rows);
        }
        return ctx.opCall(() -> "sample m=" + rows, () -> {
            IdSlot slot = ring.next(rows);
            // the four parameter arrays in one upload: temperature, top_k, top_p, uniform, rows apart
            MemorySegment p = slot.hostParams;
            MemorySegment.copy(temperature, 0, p, ValueLayout.JAVA_FLOAT, 0, rows);
            MemorySegment.copy(topK, 0, p, ValueLayout.JAVA_INT, 4L * rows, rows);
            MemorySegment.copy(topP, 0, p, ValueLayout.JAVA_FLOAT, 8L * rows, rows);
            MemorySegment.copy(uniform, 0, p, ValueLayout.JAVA_FLOAT, 12L * rows, rows);
            Driver.copyToDevice(slot.params, p, 16L * rows, ctx.device.stream());
            ctx.elementwise.sample(ctx.precision, l.ptr(), l.ld(), l.cols(), slot.params, slot.params + 4L * rows,
                    slot.params + 8L * rows, slot.params + 12L * rows, slot.ids, rows);
            return ring.send(slot, rows);
        });
    }

    /**
     * Whether the next forward can read {@code ids} on this device ({@link #resolveFutureTokens}): they are in a
     * ring slot on this device (this backend's, or another rank's sharing the GPU) that no later sample has reused.
     */
    boolean onDevice(SampledIds ids) {
        return ids instanceof DeviceIds d && d.ring.ctx.device == ctx.device && d.ring.current(d);
    }

    /** Replaces the staged batch's future tokens (row -1 - t of {@code previous}) on the device, in stream order. */
    void resolveFutureTokens(long tokens, int count, SampledIds previous) {
        if (!onDevice(previous)) throw new IllegalArgumentException("future tokens of ids that are not in a sampling ring on this device");
        ctx.elementwise.resolveFutureTokens(tokens, ((DeviceIds) previous).slot.ids, count);
    }

    void close() {
        ring.close();
    }

    /**
     * One slot of the ring: device memory for a step's ids and sampling parameters, their page-locked host
     * mirrors, and the fence of the ids' copy to the host.
     */
    private static final class IdSlot {
        final long ids, params;
        final MemorySegment hostIds, hostParams;
        final CopyFence copied = new CopyFence();
        /** Which use of the slot its current ids are (a DeviceIds of an older use may no longer read them). */
        long use;

        IdSlot(int maxRows) {
            ids = Driver.alloc(4L * maxRows);
            params = Driver.alloc(16L * maxRows);
            hostIds = Driver.allocHost(4L * maxRows);
            hostParams = Driver.allocHost(16L * maxRows);
        }

        void close() {
            copied.close();
            Driver.freeHost(hostParams);
            Driver.freeHost(hostIds);
            Driver.free(params);
            Driver.free(ids);
        }
    }

    /**
     * Two slots used in turn: step N's ids stay on the device while step N+1 reads them as future tokens and
     * samples into the other slot, so the host may fetch N's ids whenever it likes until step N+2 samples.
     */
    private static final class IdRing {
        private final CudaContext ctx;
        private final IdSlot[] slots = new IdSlot[2];
        private int turn;

        IdRing(CudaContext ctx) {
            this.ctx = ctx;
        }

        /** The next slot, once the device is done with its last use (its parameters staged, its ids copied out). */
        IdSlot next(int rows) {
            if (rows > ctx.meta.maxTokens) {
                throw new IllegalArgumentException("sampling " + rows + " rows, more than the CUDA backend's " + ctx.meta.maxTokens
                        + " (CudaOptions.maxBatchTokens)");
            }
            turn ^= 1;
            if (slots[turn] == null) slots[turn] = new IdSlot(ctx.meta.maxTokens);
            IdSlot s = slots[turn];
            s.copied.await();
            s.use++;
            return s;
        }

        /** Queues the slot's ids for the host after everything before (the side stream joined); returns their handle. */
        DeviceIds send(IdSlot s, int rows) {
            Driver.copyToHost(s.hostIds, s.ids, 4L * rows, ctx.device.stream());
            ctx.device.joinSide();
            s.copied.record(ctx.device.stream());
            return new DeviceIds(this, s, s.use, rows);
        }

        boolean current(DeviceIds d) {
            return d.slot.use == d.use;
        }

        void close() {
            for (IdSlot s : slots) if (s != null) s.close();
        }
    }

    /** Ids in a ring slot; {@link #await} copies them out once (on the device thread) and keeps them. */
    private static final class DeviceIds implements SampledIds {
        final IdRing ring;
        final IdSlot slot;
        final long use;
        final int rows;
        private int[] host;

        DeviceIds(IdRing ring, IdSlot slot, long use, int rows) {
            this.ring = ring;
            this.slot = slot;
            this.use = use;
            this.rows = rows;
        }

        @Override
        public int count() {
            return rows;
        }

        @Override
        public synchronized int[] await() {
            if (host == null) {
                host = ring.ctx.device.call(() -> {
                    if (!ring.current(this)) {
                        throw new IllegalStateException("sampled ids read after their ring slot was reused (await them before the step after next samples)");
                    }
                    slot.copied.await();
                    return slot.hostIds.asSlice(0, 4L * rows).toArray(ValueLayout.JAVA_INT);
                });
            }
            return host.clone();
        }
    }
}
