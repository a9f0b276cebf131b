package kiln.backend;

import kiln.io.DType;

import kiln.io.TensorData;

import java.util.List;

/**
 * What a model forward needs from a device, implemented once per device (CPU: Vector API; CUDA: own kernels and
 * cuBLASLt). Model code is written only against this interface. The operations come in roles ({@link DenseOps},
 * {@link AttentionOps}, {@link MoeOps}, {@link SamplingOps}, {@link CollectiveOps} over {@link TensorOps}); this
 * interface adds weights, the KV cache and one forward's lifecycle. Activations are float matrices; weights stay in
 * their stored precision (bf16, fp16, fp32, or fp8 with 128x128 block scales).
 *
 * <p>A forward starts with {@link #begin}, which makes the batch's tokens, positions and KV slots current for the
 * ops that need them (embedding, rope, attention); tensors from {@link #tensor} live until the next begin.
 */
public interface Backend extends DenseOps, AttentionOps, MoeOps, SamplingOps, CollectiveOps, AutoCloseable {

    // ---- weights (uploaded once) ----

    /** A linear layer's weight [out, in], read where it is stored; {@code scaleInv} is the fp8 block scale or null. */
    Weight weight(TensorData data, TensorData scaleInv, int blockRows, int blockCols);

    /** A matrix computed at load time (e.g. MLA's absorbed projections), row-major [rows, cols]. */
    Weight weight(float[] values, int rows, int cols);

    /** A vector (norm weight, bias, score bias) as a 1 x n weight. */
    default Weight vector(float[] values) {
        return weight(values, 1, values.length);
    }

    /** Routed experts of one MoE layer, each [gate, up: inter x hidden; down: hidden x inter]. */
    Experts experts(List<Weight> gate, List<Weight> up, List<Weight> down);

    // ---- the KV cache ----

    KvCache kvCache(KvLayout layout, int slots);

    /** Bytes this backend could still hand to a KV pool. */
    long freeMemoryBytes();

    /**
     * Bytes for this rank's KV pool under {@code --mem-fraction-static}: on a GPU, as SGLang, the fraction of total
     * memory for weights and KV together, minus what is already used; on the CPU, the fraction of free memory,
     * divided among the ranks that share it.
     */
    long kvMemoryBudget(double memFractionStatic);

    /** The default {@code --mem-fraction-static} of this backend. */
    double defaultMemFractionStatic();

    /** The element type of this backend's KV cache (float32 unless it says otherwise). */
    default DType kvCacheDtype() {
        return DType.F32;
    }

    /** Bytes one token occupies in a KV pool of this layout. */
    default long kvBytesPerToken(KvLayout layout) {
        return (long) layout.layers() * layout.valuesPerToken() * kvCacheDtype().bytes;
    }

    // ---- one forward ----

    /**
     * Whether a forward and its sampling return before the device has computed them (a GPU's stream), so that the
     * host can prepare the next step meanwhile (the overlapped scheduler). The CPU computes before it returns.
     */
    default boolean runsAhead() {
        return false;
    }

    void begin(ForwardBatch batch);

    /**
     * Marks the forward's activation storage: {@link #release} with the mark frees every tensor allocated after
     * it. Model code brackets each layer so a device's peak is one layer's temporaries. CPU: no-op (the GC).
     */
    default long mark() {
        return 0;
    }

    default void release(long mark) {}

    @Override
    void close();
}
