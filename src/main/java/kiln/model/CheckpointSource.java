package kiln.model;

import kiln.io.Checkpoint;
import kiln.io.CheckpointException;
import kiln.io.DType;
import kiln.io.TensorData;

import java.util.Arrays;

/**
 * Tensors read from a mapped HuggingFace checkpoint, checked against the shapes the model expects. A piece of rows
 * is a view of the mapped file (nothing read until used); a piece of columns is copied, only the piece, into memory
 * freed when the copy is unreachable (after a GPU upload, at the next garbage collection).
 */
final class CheckpointSource implements WeightSource {
    private final Checkpoint checkpoint;

    CheckpointSource(Checkpoint checkpoint) {
        this.checkpoint = checkpoint;
    }

    @Override
    public DType dtype(String name, long[] shape, Kind kind) {
        return checked(name, shape, kind).dtype();
    }

    @Override
    public TensorData tensor(String name, long[] shape, Kind kind, Split.Piece piece) {
        return slice(checked(name, shape, kind), piece);
    }

    private TensorData checked(String name, long[] shape, Kind kind) {
        TensorData t = checkpoint.get(name);
        if (!Arrays.equals(t.shape(), shape)) {
            throw new CheckpointException(t.source() + ": tensor " + name + " has shape " + Arrays.toString(t.shape())
                    + " but config.json implies " + Arrays.toString(shape));
        }
        if (!t.dtype().isFloat() || t.dtype() == DType.F8_E4M3 && kind != Kind.LINEAR) {
            throw new CheckpointException(t.source() + ": tensor " + name + " has dtype " + t.dtype()
                    + ", expected " + (kind == Kind.LINEAR ? "F32, BF16, F16 or F8_E4M3" : "F32, BF16 or F16"));
        }
        return t;
    }

    @Override
    public TensorData scales(String weightName, long[] scaleShape, Split.Piece piece) {
        String name = weightName + "_scale_inv";
        if (!checkpoint.has(name)) {
            throw new CheckpointException(checkpoint.get(weightName).source() + ": FP8 tensor " + weightName + " has no " + name);
        }
        TensorData s = checkpoint.get(name);
        if (!Arrays.equals(s.shape(), scaleShape) || s.dtype() != DType.F32 && s.dtype() != DType.BF16) {
            throw new CheckpointException(s.source() + ": tensor " + name + " is " + s.dtype() + Arrays.toString(s.shape())
                    + ", expected F32" + Arrays.toString(scaleShape) + " (one scale per 128x128 block)");
        }
        return slice(s, piece);
    }

    private static TensorData slice(TensorData t, Split.Piece p) {
        if (p.start() == 0 && p.count() == t.shape()[p.axis()]) return t;
        return p.axis() == 0 ? t.rows(p.start(), p.count()) : t.columns(p.start(), p.count(), (bytes, align) -> PieceMemory.allocate(bytes));
    }

    @Override
    public boolean has(String name) {
        return checkpoint.has(name);
    }

    @Override
    public String describe() {
        return checkpoint.dir() + " (" + checkpoint.files().size() + " safetensors file"
                + (checkpoint.files().size() == 1 ? "" : "s") + ")";
    }

    @Override
    public void close() {
        checkpoint.close();
    }
}
