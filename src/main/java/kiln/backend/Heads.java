package kiln.backend;

/**
 * Per-head columns of a tensor: head h of row t is columns [h*stride + offset, h*stride + offset + width).
 * Lets the model address q_nope / q_rope inside one projection output without copying.
 */
public record Heads(Tensor tensor, int count, int stride, int offset, int width) {
    public Heads {
        if (count <= 0 || width <= 0 || offset < 0 || offset + width > stride && count > 1
                || (count - 1) * stride + offset + width > tensor.cols()) {
            throw new IllegalArgumentException("heads(" + count + ", stride " + stride + ", offset " + offset
                    + ", width " + width + ") do not fit " + tensor.cols() + " columns");
        }
    }

    public int column(int head) {
        return head * stride + offset;
    }
}
