package kiln.model;

import kiln.io.Checkpoint;
import kiln.io.CheckpointException;
import kiln.io.DType;
import kiln.io.TensorData;

import java.lang.foreign.Arena;
import java.util.Arrays;

/** Tensors read from a mapped HuggingFace checkpoint, checked against the shapes the model expects. */
final class CheckpointSource implements WeightSource {
    private final Checkpoint checkpoint;
    private final Arena copies = Arena.ofShared();

    CheckpointSource(Checkpoint checkpoint) {
        this.checkpoint = checkpoint;
    }

    @Override
    public TensorData tensor(String name, long[] shape, Kind kind) {
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
    public TensorData scaleFor(TensorData weight, long[] scaleShape) {
        if (weight.dtype() != DType.F8_E4M3) return null;
        String name = weight.name() + "_scale_inv";
        if (!checkpoint.has(name)) {
            throw new CheckpointException(weight.source() + ": FP8 tensor " + weight.name() + " has no " + name);
        }
        TensorData s = checkpoint.get(name);
        if (!Arrays.equals(s.shape(), scaleShape) || s.dtype() != DType.F32 && s.dtype() != DType.BF16) {
            throw new CheckpointException(s.source() + ": tensor " + name + " is " + s.dtype() + Arrays.toString(s.shape())
                    + ", expected F32" + Arrays.toString(scaleShape) + " (one scale per 128x128 block)");
        }
        return s;
    }

    @Override
    public boolean has(String name) {
        return checkpoint.has(name);
    }

    @Override
    public Arena arena() {
        return copies;
    }

    @Override
    public String describe() {
        return checkpoint.dir() + " (" + checkpoint.files().size() + " safetensors file"
                + (checkpoint.files().size() == 1 ? "" : "s") + ")";
    }

    @Override
    public void close() {
        checkpoint.close();
        copies.close();
    }
}
