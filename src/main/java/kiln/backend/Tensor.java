package kiln.backend;

/**
 * A float activation matrix [rows, cols] owned by a backend: rows are tokens, columns features. Views share
 * storage; {@link #heads} describes a per-head layout inside the columns.
 */
public interface Tensor {
    int rows();

    int cols();

    /** Columns [start, start + count) of every row, as a view. */
    Tensor columns(int start, int count);

    /** {@code count} heads of {@code width} columns laid side by side. */
    default Heads heads(int count, int width) {
        return new Heads(this, count, width, 0, width);
    }

    /** {@code count} heads, each {@code stride} columns apart, taking {@code width} columns from {@code offset}. */
    default Heads heads(int count, int stride, int offset, int width) {
        return new Heads(this, count, stride, offset, width);
    }
}
