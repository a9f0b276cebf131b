package kiln.model;

import kiln.io.DType;
import kiln.io.TensorData;

/**
 * Where a model's tensors come from: a checkpoint on disk, or deterministic dummy values. A tensor-parallel rank asks
 * only for its own piece of each tensor ({@link Split.Piece}), so that a source never has to hold the whole tensor
 * for one rank: a checkpoint maps the file and copies only the piece's columns, dummy weights generate only the
 * piece's elements.
 */
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

    /** The stored dtype of tensor {@code name}, after checking that it has {@code shape} and a dtype {@code kind} allows. */
    DType dtype(String name, long[] shape, Kind kind);

    /**
     * Piece {@code piece} of tensor {@code name} (whole shape {@code shape}): rows are [start, start + count) of
     * axis 0, columns of axis 1. The tensor stays valid while it is reachable and this source is open; memory made
     * for it alone (generated values, copied columns) is freed once it is unreachable, so a backend that copies each
     * weight to a device does not keep a host copy of the model.
     */
    TensorData tensor(String name, long[] shape, Kind kind, Split.Piece piece);

    /**
     * Piece {@code piece} of the FP8 block scales of weight {@code weightName}, whose whole scale tensor has
     * {@code scaleShape} (one scale per block).
     */
    TensorData scales(String weightName, long[] scaleShape, Split.Piece piece);

    boolean has(String name);

    String describe();

    @Override
    void close();
}
