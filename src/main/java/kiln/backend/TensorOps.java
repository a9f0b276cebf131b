package kiln.backend;

/**
 * Activation tensors of one backend: where they live, and the way in and out. The base of the op roles
 * ({@link DenseOps}, {@link AttentionOps}, {@link MoeOps}, {@link SamplingOps}) that {@link Backend} combines.
 */
public interface TensorOps {
    /** Which backend this is, for logs and messages ("cpu (8 threads, ...)", "cuda:0 (...)"). */
    String name();

    /** A new tensor [rows, cols], valid until the next {@link Backend#begin}. */
    Tensor tensor(int rows, int cols);

    /** Rows {@code rows} of {@code x}, gathered into a new tensor. */
    Tensor gatherRows(Tensor x, int[] rows);

    float[] download(Tensor t);

    /** A new tensor holding {@code values} (row-major [rows, cols]); for tests, benchmarks and host-made inputs. */
    Tensor upload(float[] values, int rows, int cols);
}
