package kiln.backend.cpu;

import kiln.backend.KvCache;
import kiln.backend.KvLayout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * One off-heap array per layer, [slots][valuesPerToken] floats, or e4m3 bytes for MLA's latent cache under
 * {@code --kv-cache-dtype fp8_e4m3} (rounded to nearest even and saturated on store, as the GPU's cache stores
 * them); freed when closed.
 */
final class CpuKvCache implements KvCache {
    private final KvLayout layout;
    private final int slots;
    private final Arena arena = Arena.ofShared();
    final MemorySegment[] layers;
    /** Entries are e4m3 bytes rather than floats. */
    final boolean fp8;
    private final int elementBytes;

    CpuKvCache(KvLayout layout, int slots, boolean fp8) {
        this.layout = layout;
        this.slots = slots;
        this.fp8 = fp8;
        this.elementBytes = fp8 ? 1 : Float.BYTES;
        this.layers = new MemorySegment[layout.layers()];
        long perLayer = (long) slots * layout.valuesPerToken() * elementBytes;
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
        return (long) slots * layout.valuesPerToken() * elementBytes * layers.length;
    }

    /** Byte offset of value {@code at} of a slot's entry within a layer. */
    long offset(int slot, int at) {
        return ((long) slot * layout.valuesPerToken() + at) * elementBytes;
    }

    /** Byte offset of a slot's entry within a layer. */
    long offset(int slot) {
        return offset(slot, 0);
    }

    @Override
    public void close() {
        arena.close();
    }
}
