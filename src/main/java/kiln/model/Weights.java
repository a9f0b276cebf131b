package kiln.model;

import kiln.backend.Backend;
import kiln.backend.DeviceMemoryException;
import kiln.backend.Weight;
import kiln.config.ModelConfig;
import kiln.io.DType;
import kiln.io.TensorData;

/**
 * What model code loads weights through: it names each tensor with the full shape the config implies and how the
 * tensor divides among tensor-parallel ranks ({@link Split}), and gets back this rank's part as a backend weight
 * in stored precision. Shape, dtype, FP8 scales and FP8 block alignment of the split are checked here, once for
 * every architecture. A rank asks its source for its own piece only: rows of a mapped checkpoint are a view of the
 * file, columns are copied (just the piece), dummy weights generate just the piece.
 */
public final class Weights {
    private final WeightSource source;
    private final Backend backend;
    private final Shard shard;
    private final int rankInProgress;
    private final LoadProgress progress;
    private final int[] block;
    private long bytes;
    /** Layers loaded so far, of how many (for the out-of-memory message). */
    private int layersDone, layersOf;

    /**
     * Rank {@code shard} of a model on {@code backend}, reporting its layers to {@code progress} as its rank
     * {@code rankInProgress} (0 when the progress follows this rank alone).
     */
    Weights(WeightSource source, Backend backend, ModelConfig config, Shard shard, LoadProgress progress, int rankInProgress) {
        this.source = source;
        this.backend = backend;
        this.shard = shard;
        this.progress = progress;
        this.rankInProgress = rankInProgress;
        this.block = config.fp8BlockSize() == null ? new int[]{128, 128} : config.fp8BlockSize();
    }

    public Backend backend() {
        return backend;
    }

    public Shard shard() {
        return shard;
    }

    /** Bytes of weights loaded so far. */
    public long bytes() {
        return bytes;
    }

    /** A projection [out, in], whole on every rank; FP8 in block-quantized checkpoints. */
    public Weight linear(String name, int out, int in) {
        return linear(name, out, in, Split.WHOLE);
    }

    /** This rank's part of a projection [out, in]. */
    public Weight linear(String name, int out, int in, Split split) {
        return matrix(name, out, in, WeightSource.Kind.LINEAR, split);
    }

    /** A matrix that stays bf16 even in FP8 checkpoints: embeddings, lm_head, router. */
    public Weight dense(String name, int out, int in) {
        return dense(name, out, in, Split.WHOLE);
    }

    public Weight dense(String name, int out, int in, Split split) {
        return matrix(name, out, in, WeightSource.Kind.DENSE, split);
    }

    private Weight matrix(String name, int out, int in, WeightSource.Kind kind, Split split) {
        Stored s = stored(name, out, in, kind, split);
        Weight w = backend.weight(s.data(), s.scale(), block[0], block[1]);
        bytes += w.bytes();
        return w;
    }

    /** This rank's part of a matrix and of its FP8 block scales (null when not FP8). */
    private record Stored(TensorData data, TensorData scale) {}

    private Stored stored(String name, int out, int in, WeightSource.Kind kind, Split split) {
        long[] shape = {out, in};
        boolean fp8 = source.dtype(name, shape, kind) == DType.F8_E4M3;
        Split.Piece piece = split.piece(name, shape, shard, fp8 ? block : null);
        TensorData t = source.tensor(name, shape, kind, piece);
        if (!fp8) return new Stored(t, null);
        // the piece keeps whole blocks (Split.piece checked), so its scales are whole rows or columns of the scales
        int b = block[piece.axis()];
        long first = piece.start() / b, end = ceilDiv(piece.start() + piece.count(), b);
        TensorData scale = source.scales(name, new long[]{ceilDiv(out, block[0]), ceilDiv(in, block[1])},
                new Split.Piece(piece.axis(), first, end - first));
        return new Stored(t, scale);
    }

    public Weight norm(String name, int n) {
        return vector(name, n, WeightSource.Kind.NORM, Split.WHOLE);
    }

    /** A bias of a column-parallel projection divides as the projection's rows. */
    public Weight bias(String name, int n, Split split) {
        return vector(name, n, WeightSource.Kind.BIAS, split);
    }

    public Weight scoreBias(String name, int n) {
        return vector(name, n, WeightSource.Kind.SCORE_BIAS, Split.WHOLE);
    }

    private Weight vector(String name, int n, WeightSource.Kind kind, Split split) {
        long[] shape = {n};
        source.dtype(name, shape, kind);
        float[] v = source.tensor(name, shape, kind, split.piece(name, shape, shard, null)).toFloatArray();
        bytes += 4L * v.length;
        return backend.vector(v);
    }

    /** This rank's part of a matrix as floats, with any FP8 block scale applied (for weights transformed at load time). */
    public float[] floats(String name, int out, int in, Split split) {
        Stored s = stored(name, out, in, WeightSource.Kind.LINEAR, split);
        TensorData t = s.data(), scale = s.scale();
        int rows = t.dim(0), cols = t.dim(1);
        float[] v = t.toFloatArray();
        if (scale != null) {
            int scaleCols = scale.dim(1);
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) v[r * cols + c] *= scale.getFloat((long) (r / block[0]) * scaleCols + c / block[1]);
            }
        }
        bytes += (long) rows * cols * (t.dtype() == DType.F8_E4M3 ? 1 : t.dtype().bytes);
        return v;
    }

    public boolean has(String name) {
        return source.has(name);
    }

    /** Reports that {@code done} of {@code of} layers are loaded (the load's progress lines). */
    void layerLoaded(int done, int of) {
        layersDone = done;
        layersOf = of;
        progress.layer(rankInProgress, done, of, bytes, source.describe());
    }

    /** What a refused device allocation during the load means for the user: how far the load got, and what to do. */
    String outOfMemory(DeviceMemoryException e) {
        String rank = shard.size() > 1 ? String.format(" (rank %d of --tp %d)", shard.rank(), shard.size()) : "";
        String device = e.freeOfTotal() == null ? "" : "; " + e.freeOfTotal();
        return String.format("the weights do not fit on %s%s: out of device memory after %.2f GB of weights, %d of %s layers loaded%s. "
                        + "Use more ranks (--tp) or a device with more memory", backend.name(), rank, bytes / 1e9, layersDone,
                layersOf > 0 ? String.valueOf(layersOf) : "the", device);
    }

    /** Closes the source: rows of a mapped checkpoint are views of its files. */
    void close() {
        source.close();
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }
}
