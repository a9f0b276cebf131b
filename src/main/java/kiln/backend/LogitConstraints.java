package kiln.backend;

/**
 * What structured output and {@code logit_bias} do to a step's logits before anything reads them (sampling,
 * argmax, logprobs): per listed row, a bitmask of the tokens allowed (bit {@code id & 63} of word {@code id >>> 6};
 * a clear bit sets the logit to -inf), and a sparse list of additive biases. Biases are added first, so a bias
 * never lets a masked token back in.
 *
 * @param maskRows   the logits rows that have a mask, each at most once
 * @param masks      {@code maskRows.length * words} longs, row i's mask at {@code i * words}
 * @param words      longs per mask: {@code ceil(cols / 64)}
 * @param biasRows   the row of each bias entry
 * @param biasIds    the token of each bias entry
 * @param biasValues the value added to that logit
 */
public record LogitConstraints(int[] maskRows, long[] masks, int words, int[] biasRows, int[] biasIds, float[] biasValues) {
    public LogitConstraints {
        if (masks.length != (long) maskRows.length * words) {
            throw new IllegalArgumentException(masks.length + " mask words for " + maskRows.length + " rows of " + words);
        }
        if (biasIds.length != biasRows.length || biasValues.length != biasRows.length) {
            throw new IllegalArgumentException("bias lists of different lengths: " + biasRows.length + ", " + biasIds.length + ", " + biasValues.length);
        }
    }

    public boolean isEmpty() {
        return maskRows.length == 0 && biasRows.length == 0;
    }

    /** Checks the rows and ids against logits of {@code rows} x {@code cols}. */
    public void check(int rows, int cols) {
        if (maskRows.length > 0 && words != (cols + 63) / 64) throw new IllegalArgumentException(words + " mask words for " + cols + " columns");
        for (int r : maskRows) if (r < 0 || r >= rows) throw new IllegalArgumentException("mask row " + r + " of " + rows);
        for (int i = 0; i < biasRows.length; i++) {
            if (biasRows[i] < 0 || biasRows[i] >= rows || biasIds[i] < 0 || biasIds[i] >= cols) {
                throw new IllegalArgumentException("bias at row " + biasRows[i] + ", token " + biasIds[i] + " of " + rows + "x" + cols);
            }
        }
    }

    /**
     * Applies the biases, then the masks, to logits held on the host: row r, column c at {@code v[offset + r *
     * stride + c]}. The definition a device's kernels follow.
     */
    public void applyTo(float[] v, int offset, int stride, int rows, int cols) {
        check(rows, cols);
        for (int i = 0; i < biasRows.length; i++) v[offset + biasRows[i] * stride + biasIds[i]] += biasValues[i];
        for (int m = 0; m < maskRows.length; m++) {
            int base = offset + maskRows[m] * stride;
            for (int w = 0; w < words; w++) {
                long bits = masks[m * words + w];
                if (bits == -1L) continue;  // all 64 allowed: most words inside a free string
                int first = w << 6, end = Math.min(cols, first + 64);
                if (bits == 0) {  // none allowed: most words after a JSON value's last character
                    java.util.Arrays.fill(v, base + first, base + end, Float.NEGATIVE_INFINITY);
                    continue;
                }
                for (int c = first; c < end; c++) if ((bits >>> (c - first) & 1L) == 0) v[base + c] = Float.NEGATIVE_INFINITY;
            }
        }
    }
}
