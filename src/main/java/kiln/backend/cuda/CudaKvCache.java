package kiln.backend.cuda;

import kiln.backend.KvCache;
import kiln.backend.KvLayout;
import kiln.io.DType;

/**
 * The KV pool in device memory: per layer [slots + 1][valuesPerToken] elements of the activation type, or of FP8
 * e4m3 for MLA's latent cache under {@code --kv-cache-dtype fp8_e4m3}. The extra slot ({@link #paddingSlot})
 * absorbs the writes of the padding sequences of a replayed CUDA graph.
 */
final class CudaKvCache implements KvCache {
    private final CudaBackend backend;
    private final KvLayout layout;
    private final int slots;
    final DType dtype;
    final long base, perLayerBytes;
    private boolean closed;

    CudaKvCache(CudaBackend backend, KvLayout layout, int slots, DType dtype) {
        this.backend = backend;
        this.layout = layout;
        this.slots = slots;
        this.dtype = dtype;
        this.perLayerBytes = (slots + 1L) * layout.valuesPerToken() * dtype.bytes;
        this.base = backend.device().call(() -> Driver.alloc(perLayerBytes * layout.layers()));
    }

    /** Sets every entry to zero (benchmarks fill a context without computing it). */
    void zero() {
        backend.device().run(() -> Driver.memset(base, 0, bytes(), backend.device().stream()));
    }

    /** The suffix of the kernels that read or write a cache of {@code dtype}: "_fp8kv" for FP8, none otherwise. */
    static String kernelSuffix(DType dtype) {
        return dtype == DType.F8_E4M3 ? "_fp8kv" : "";
    }

    long layer(int l) {
        if (l < 0 || l >= layout.layers()) throw new IllegalArgumentException("layer " + l + " of " + layout.layers());
        return base + l * perLayerBytes;
    }

    int paddingSlot() {
        return slots;
    }

    CudaBackend backend() {
        return backend;
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
        return perLayerBytes * layout.layers();
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        backend.device().run(() -> {
            Driver.synchronize(backend.device().stream(), "KV cache close");
            Driver.free(base);
        });
    }
}
