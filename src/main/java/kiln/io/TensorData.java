package kiln.io;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * One tensor as stored: its bytes stay where they are (a mapped file or off-heap memory), never copied to the heap.
 * {@code source} names the file it came from, for error messages.
 */
public record TensorData(String name, DType dtype, long[] shape, MemorySegment data, String source) {

    public long numel() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    public int dim(int i) {
        return Math.toIntExact(shape[i]);
    }

    public String describe() {
        return name + " " + dtype + Arrays.toString(shape) + " in " + source;
    }

    /**
     * Rows [start, start + count) of a matrix (elements of a vector): a view of the same bytes, nothing copied, valid
     * as long as this tensor's memory.
     */
    public TensorData rows(long start, long count) {
        if (shape.length < 1 || shape.length > 2 || start < 0 || count < 0 || start + count > shape[0]) {
            throw new IllegalArgumentException(describe() + ": no rows [" + start + ", " + (start + count) + ")");
        }
        long rowBytes = (shape.length == 2 ? shape[1] : 1) * dtype.bytes;
        long[] s = shape.clone();
        s[0] = count;
        return new TensorData(name, dtype, s, data.asSlice(start * rowBytes, count * rowBytes), source);
    }

    /**
     * Columns [start, start + count) of a matrix: every row's run copied into memory from {@code allocator} (an
     * arena, say; a matrix's columns are not contiguous), so only the shard is copied.
     */
    public TensorData columns(long start, long count, SegmentAllocator allocator) {
        if (shape.length != 2 || start < 0 || count < 0 || start + count > shape[1]) {
            throw new IllegalArgumentException(describe() + ": no columns [" + start + ", " + (start + count) + ")");
        }
        long rows = shape[0], rowBytes = shape[1] * dtype.bytes, runBytes = count * dtype.bytes;
        MemorySegment out = allocator.allocate(Math.max(1, rows * runBytes), 64);
        for (long r = 0; r < rows; r++) {
            MemorySegment.copy(data, r * rowBytes + start * dtype.bytes, out, r * runBytes, runBytes);
        }
        return new TensorData(name, dtype, new long[]{rows, count}, out.asSlice(0, rows * runBytes), source);
    }

    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble DOUBLE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Element {@code i} widened to float (small tensors: norms, biases, scales, references). */
    public float getFloat(long i) {
        return switch (dtype) {
            case F32 -> data.get(FLOAT, i * 4);
            case F64 -> (float) data.get(DOUBLE, i * 8);
            case BF16 -> Float.intBitsToFloat((data.get(SHORT, i * 2) & 0xFFFF) << 16);
            case F16 -> Float.float16ToFloat(data.get(SHORT, i * 2));
            case F8_E4M3 -> Fp8.toFloat(data.get(ValueLayout.JAVA_BYTE, i));
            default -> throw new IllegalStateException(describe() + " is not a float tensor");
        };
    }

    public float[] toFloatArray() {
        float[] out = new float[Math.toIntExact(numel())];
        for (int i = 0; i < out.length; i++) out[i] = getFloat(i);
        return out;
    }

    public int[] toIntArray() {
        int[] out = new int[Math.toIntExact(numel())];
        for (int i = 0; i < out.length; i++) {
            out[i] = switch (dtype) {
                case I32 -> data.get(INT, i * 4L);
                case I64 -> Math.toIntExact(data.get(LONG, i * 8L));
                default -> throw new IllegalStateException(describe() + " is not an integer tensor");
            };
        }
        return out;
    }
}
