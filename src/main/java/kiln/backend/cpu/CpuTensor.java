package kiln.backend.cpu;

import kiln.backend.Tensor;

/** Activations on the heap: row t, column c lives at data[offset + t * stride + c]. */
record CpuTensor(float[] data, int offset, int rows, int cols, int stride) implements Tensor {

    static CpuTensor allocate(int rows, int cols) {
        return new CpuTensor(new float[Math.multiplyExact(rows, cols)], 0, rows, cols, cols);
    }

    @Override
    public Tensor columns(int start, int count) {
        if (start < 0 || count < 0 || start + count > cols) {
            throw new IllegalArgumentException("columns [" + start + ", " + (start + count) + ") of " + cols);
        }
        return new CpuTensor(data, offset + start, rows, count, stride);
    }

    int at(int row, int col) {
        return offset + row * stride + col;
    }

    boolean contiguous() {
        return stride == cols;
    }
}
