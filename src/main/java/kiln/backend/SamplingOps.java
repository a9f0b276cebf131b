package kiln.backend;

/**
 * Choosing tokens from logits where they are. The defaults download the logits and run {@link RowSampling}, the
 * definition a device's kernels follow; a device overrides them so that only the ids leave it.
 */
public interface SamplingOps extends TensorOps {
    /**
     * One token per row of {@code logits}. Row r: {@code temperature[r] <= 0} is greedy ({@link #argmax});
     * otherwise softmax(logits / temperature) restricted to the {@code topK[r]} largest (0: all), then to the
     * largest whose mass reaches {@code topP[r]} (1: all), and the token at {@code uniform[r]} (in [0, 1), drawn by
     * the caller so runs reproduce) of the cumulative distribution over the kept tokens in index order. Ties at
     * a cut are all kept. Only the ids leave the device.
     */
    default int[] sample(Tensor logits, float[] temperature, int[] topK, float[] topP, float[] uniform) {
        int rows = logits.rows(), cols = logits.cols();
        if (temperature.length != rows || topK.length != rows || topP.length != rows || uniform.length != rows) {
            throw new IllegalArgumentException("sample: parameters for " + temperature.length + " rows, logits have " + rows);
        }
        float[] v = download(logits);
        int[] out = new int[rows];
        for (int r = 0; r < rows; r++) {
            out[r] = temperature[r] <= 0 ? RowSampling.argmax(v, r * cols, cols)
                    : RowSampling.draw(v, r * cols, cols, temperature[r], topK[r], topP[r], 0f, uniform[r]);
        }
        return out;
    }

    /**
     * {@code logits} with the constraints applied ({@link LogitConstraints}: biases added, masked tokens at -inf),
     * before any sampling or logprob reads them. Devices write in place and return {@code logits}; this default goes
     * through the host and returns a new tensor.
     */
    default Tensor constrain(Tensor logits, LogitConstraints c) {
        if (c.isEmpty()) return logits;
        float[] v = download(logits);
        c.applyTo(v, 0, logits.cols(), logits.rows(), logits.cols());
        return upload(v, logits.rows(), logits.cols());
    }

    /**
     * {@link #sample}, returned before the ids reach the host where the device runs ahead of it: they stay on the
     * device for the next forward to read as future tokens, and {@link SampledIds#await} brings them over.
     */
    default SampledIds sampleAsync(Tensor logits, float[] temperature, int[] topK, float[] topP, float[] uniform) {
        return SampledIds.ready(sample(logits, temperature, topK, topP, uniform));
    }

    /** {@link #argmax}, returned before the ids reach the host where the device runs ahead of it ({@link #sampleAsync}). */
    default SampledIds argmaxAsync(Tensor logits) {
        return SampledIds.ready(argmax(logits));
    }

    /** Per row of {@code logits}, the index of the largest value, lowest index on ties (greedy sampling). */
    default int[] argmax(Tensor logits) {
        float[] v = download(logits);
        int rows = logits.rows(), cols = logits.cols();
        int[] out = new int[rows];
        for (int r = 0; r < rows; r++) out[r] = RowSampling.argmax(v, r * cols, cols);
        return out;
    }
}
