package kiln.backend.cpu;

import kiln.backend.Weight;
import kiln.io.DType;

import java.lang.foreign.MemorySegment;

/**
 * A weight read in place: {@code data} is the mapped checkpoint bytes (or off-heap dummy bytes, or a heap float
 * array for derived matrices). For FP8, {@code scales[rb * scaleCols + cb]} is the block's scale already times
 * 2^120 (see {@link kiln.io.Fp8}), so one multiply per block undoes both.
 */
record CpuWeight(DType dtype, int rows, int cols, MemorySegment data, float[] scales, int blockRows, int blockCols,
                 int scaleCols) implements Weight {

    @Override
    public long bytes() {
        return data.byteSize() + (scales == null ? 0 : scales.length * 4L);
    }
}
