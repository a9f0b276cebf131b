package kiln.model;

import kiln.io.TensorData;

import java.lang.foreign.Arena;

/** Where a model's tensors come from: a checkpoint on disk, or deterministic dummy values. */
public interface WeightSource extends AutoCloseable {
    /** What a tensor is for, so that dummy weights get a sensible distribution and precision. */
    enum Kind {
        /** A projection that block-FP8 checkpoints store quantized. */
        LINEAR,
        /** A projection kept in bf16 even in FP8 checkpoints (embeddings, lm_head, MoE router). */
        DENSE,
        NORM,
        BIAS,
        SCORE_BIAS
    }

    /** The tensor {@code name}, checked to have {@code shape}. */
    TensorData tensor(String name, long[] shape, Kind kind);

    /** The fp8 block scales belonging to weight {@code name}, or null when it is not stored in fp8. */
    TensorData scaleFor(TensorData weight, long[] scaleShape);

    boolean has(String name);

    /** Memory for the copies a tensor-parallel rank makes of its parts (column slices); freed when this source closes. */
    Arena arena();

    String describe();

    @Override
    void close();
}
