package kiln.backend.cpu;

import kiln.backend.KvCache;
import kiln.backend.KvLayout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** One off-heap float array per layer, [slots][valuesPerToken]; freed when closed. */
final class CpuKvCache implements KvCache {
    private final KvLayout layout;
    private final int slots;
    private final Arena arena = Arena.ofShared();
    final MemorySegment[] layers;

    CpuKvCache(KvLayout layout, int slots) {
        this.layout = layout;
        this.slots = slots;
        this.layers = new MemorySegment[layout.layers()];
        long perLayer = (long) slots * layout.valuesPerToken() * Float.BYTES;
        for (int l = 0; l < layers.length; l++) layers[l] = arena.allocate(perLayer, 64);
    }

    @Override
    public KvLayout layout() {
        return layout;
    }

    @Override
    public int slots() {
        return slots;
    }

    @Override
    public long bytes() {
        return (long) slots * layout.valuesPerToken() * Float.BYTES * layers.length;
    }

    /** Byte offset of a slot's entry within a layer. */
    long offset(int slot) {
        return (long) slot * layout.valuesPerToken() * Float.BYTES;
    }

    @Override
    public void close() {
        arena.close();
    }
}
