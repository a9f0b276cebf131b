package kiln.model;

import kiln.backend.Backend;
import kiln.backend.Weight;
import kiln.config.ModelConfig;
import kiln.io.DType;
import kiln.io.TensorData;

/**
 * What model code loads weights through: it names each tensor with the shape the config implies, and gets back a
 * backend weight in stored precision. Shape, dtype and FP8 scales are checked here, once for every architecture.
 */
public final class Weights {
    private final WeightSource source;
    private final Backend backend;
    private final int[] block;
    private long bytes;

    Weights(WeightSource source, Backend backend, ModelConfig config) {
        this.source = source;
        this.backend = backend;
        this.block = config.fp8BlockSize() == null ? new int[]{128, 128} : config.fp8BlockSize();
    }

    public Backend backend() {
        return backend;
    }

    /** Bytes of weights loaded so far. */
    public long bytes() {
        return bytes;
    }

    /** A projection [out, in]; FP8 in block-quantized checkpoints. */
    public Weight linear(String name, int out, int in) {
        return matrix(name, out, in, WeightSource.Kind.LINEAR);
    }

    /** A matrix that stays bf16 even in FP8 checkpoints: embeddings, lm_head, router. */
    public Weight dense(String name, int out, int in) {
        return matrix(name, out, in, WeightSource.Kind.DENSE);
    }

    private Weight matrix(String name, int out, int in, WeightSource.Kind kind) {
        TensorData t = source.tensor(name, new long[]{out, in}, kind);
        TensorData scale = source.scaleFor(t, new long[]{ceilDiv(out, block[0]), ceilDiv(in, block[1])});
        Weight w = backend.weight(t, scale, block[0], block[1]);
        bytes += w.bytes();
        return w;
    }

    public Weight norm(String name, int n) {
        return vector(name, n, WeightSource.Kind.NORM);
    }

    public Weight bias(String name, int n) {
        return vector(name, n, WeightSource.Kind.BIAS);
    }

    public Weight scoreBias(String name, int n) {
        return vector(name, n, WeightSource.Kind.SCORE_BIAS);
    }

    private Weight vector(String name, int n, WeightSource.Kind kind) {
        float[] v = source.tensor(name, new long[]{n}, kind).toFloatArray();
        bytes += 4L * n;
        return backend.vector(v);
    }

    /** A matrix as floats with any FP8 block scale applied (for weights transformed at load time). */
    public float[] floats(String name, int out, int in) {
        TensorData t = source.tensor(name, new long[]{out, in}, WeightSource.Kind.LINEAR);
        TensorData scale = source.scaleFor(t, new long[]{ceilDiv(out, block[0]), ceilDiv(in, block[1])});
        float[] v = t.toFloatArray();
        if (scale != null) {
            int scaleCols = ceilDiv(in, block[1]);
            for (int r = 0; r < out; r++) {
                for (int c = 0; c < in; c++) v[r * in + c] *= scale.getFloat((long) (r / block[0]) * scaleCols + c / block[1]);
            }
        }
        bytes += (long) out * in * (t.dtype() == DType.F8_E4M3 ? 1 : t.dtype().bytes);
        return v;
    }

    public boolean has(String name) {
        return source.has(name);
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }
}
