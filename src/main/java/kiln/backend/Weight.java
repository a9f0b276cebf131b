package kiln.backend;

import kiln.io.DType;

/** A matrix [rows, cols] (out x in for linear layers) resident on a backend, in its stored precision. */
public interface Weight {
    DType dtype();

    int rows();

    int cols();

    /** Bytes it occupies (weights plus block scales). */
    long bytes();
}
