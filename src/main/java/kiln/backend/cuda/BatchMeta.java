package kiln.backend.cuda;

import kiln.backend.ForwardBatch;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A forward's batch description in a fixed device buffer. Regions of int32: tokens, positions, the slot each new
 * token's K/V goes to, each token's sequence and visible key count, the rows that need logits, each sequence's
 * start in the flat slot list, and the flat slot list (each sequence's cached then new slots). The first seven
 * are {@code stride} ints apart, stride being the batch's token count, so that the used part is one contiguous
 * range, staged through page-locked host memory with one asynchronous copy (one copy per region costs a one-token
 * decode step measurably more; docs/cuda.md). Batches of the same token count (a CUDA graph's padded size) get
 * the same addresses; an event keeps the host from overwriting a copy still in flight.
 */
final class BatchMeta implements AutoCloseable {
    final int maxTokens, maxSlots;
    private final long device;
    private final MemorySegment host;
    private final MemorySegment stream;
    private final CopyFence copied = new CopyFence();
    /** Ints between the first seven regions: the staged batch's token count (its sequences and logit rows are no more). */
    private int stride;

    BatchMeta(int maxTokens, int maxSlots, MemorySegment stream) {
        this.maxTokens = maxTokens;
        this.maxSlots = maxSlots;
        this.stream = stream;
        long bytes = 4L * (7L * maxTokens + maxSlots);
        this.device = Driver.alloc(bytes);
        this.host = Driver.allocHost(bytes);
        this.stride = maxTokens;
    }

    private long region(int i) {
        return 4L * i * stride;
    }

    long tokens() { return device + region(0); }
    long positions() { return device + region(1); }
    long newSlots() { return device + region(2); }
    long tokenSeq() { return device + region(3); }
    long tokenVisible() { return device + region(4); }
    long logitRows() { return device + region(5); }
    long seqSlotStart() { return device + region(6); }
    long slots() { return device + region(7); }

    void stage(ForwardBatch b) {
        int n = b.numTokens(), seqs = b.seqs().size(), rows = b.logitRows().length;
        long slotTotal = b.contextTokens();
        if (n > maxTokens || seqs > maxTokens || rows > maxTokens) {
            throw new IllegalArgumentException("batch of " + n + " tokens (" + seqs + " sequences) exceeds the CUDA backend's "
                    + maxTokens + " (CudaOptions.maxBatchTokens; lower --chunked-prefill-size or --max-running-requests)");
        }
        if (slotTotal > maxSlots) {
            throw new IllegalArgumentException("batch references " + slotTotal + " KV slots, more than the CUDA backend's "
                    + maxSlots + " (CudaOptions.maxSlotEntries)");
        }
        copied.await();
        stride = Math.max(1, Math.max(n, Math.max(seqs, rows)));
        ValueLayout.OfInt I = ValueLayout.JAVA_INT;
        MemorySegment.copy(b.tokens(), 0, host, I, region(0), n);
        MemorySegment.copy(b.positions(), 0, host, I, region(1), n);
        MemorySegment.copy(b.logitRows(), 0, host, I, region(5), rows);
        long slotAt = region(7);
        int slotIndex = 0;
        for (int si = 0; si < seqs; si++) {
            ForwardBatch.Seq s = b.seqs().get(si);
            host.setAtIndex(I, stride * 6L + si, slotIndex);
            MemorySegment.copy(s.slots(), 0, host, I, slotAt + 4L * slotIndex, s.totalTokens());
            for (int i = 0; i < s.newTokens(); i++) {
                int t = s.tokenStart() + i;
                if (t < 0 || t >= n) throw new IllegalArgumentException("sequence " + si + " claims token " + t + " of " + n);
                host.setAtIndex(I, stride * 2L + t, s.slots()[s.cachedTokens() + i]);
                host.setAtIndex(I, stride * 3L + t, si);
                host.setAtIndex(I, stride * 4L + t, s.cachedTokens() + i + 1);
            }
            slotIndex += s.totalTokens();
        }
        long bytes = region(7) + 4L * slotIndex;
        Driver.copyToDevice(device, host.asSlice(0, bytes), bytes, stream);
        copied.record(stream);
    }

    @Override
    public void close() {
        copied.close();
        Driver.freeHost(host);
        Driver.free(device);
    }
}
