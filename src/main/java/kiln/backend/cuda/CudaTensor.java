package kiln.backend.cuda;

import kiln.backend.Tensor;
import kiln.io.DType;

/** An activation matrix in device memory: row t, column c at ptr + (t * ld + c) * element size. */
record CudaTensor(long ptr, int rows, int cols, long ld, DType dtype) implements Tensor {

    long elementBytes() {
        return dtype.bytes;
    }

    @Override
    public Tensor columns(int start, int count) {
        if (start < 0 || count < 0 || start + count > cols) {
            throw new IllegalArgumentException("columns [" + start + ", " + (start + count) + ") of " + cols);
        }
        return new CudaTensor(ptr + start * elementBytes(), rows, count, ld, dtype);
    }

    /** Rows [start, start + count), as a view. */
    CudaTensor rowRange(int start, int count) {
        if (start < 0 || count < 0 || start + count > rows) {
            throw new IllegalArgumentException("rows [" + start + ", " + (start + count) + ") of " + rows);
        }
        return new CudaTensor(ptr + start * ld * elementBytes(), count, cols, ld, dtype);
    }
}
