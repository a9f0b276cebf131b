package kiln.model;

import kiln.io.DType;
import kiln.io.TensorData;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.stream.LongStream;

/**
 * Deterministic random weights of the shapes and dtypes a real checkpoint of this config would have
 * ({@code --load-format dummy}): the same name always gets the same values, whatever the load order. Linear
 * layers of FP8 configs are FP8 with block scales; values have std about 0.02 like HF's initialiser; norms are 1.
 *
 * <p>Every element is a function of the tensor's name and the element's index in the whole tensor (row-major), so
 * a tensor-parallel rank generates only its own piece, directly, and gets the same values as the same elements of
 * the whole tensor: TP N computes what TP 1 does, and no rank spends the time or memory of whole tensors.
 *
 * <p>Each piece is generated in parallel blocks on the common pool into memory of its own ({@link PieceMemory}),
 * freed once the piece is unreachable: a backend that copies weights to a device holds no host copy of the model.
 */
final class DummySource implements WeightSource {
    private static final long SEED = 0x6b696c6eL; // "kiln"
    private static final float STD = 0.02f;
    /** Elements per stream: element i is drawn from stream i / STREAM, at position i % STREAM. */
    private static final int STREAM_BITS = 16;
    private static final long GOLDEN = 0x9E3779B97F4A7C15L, STREAM_STEP = 0xBF58476D1CE4E5B9L;
    /** Output elements one parallel task generates. */
    private static final int BLOCK = 1 << 16;
    private final int[] fp8Block;

    DummySource(int[] fp8Block) {
        this.fp8Block = fp8Block;
    }

    @Override
    public DType dtype(String name, long[] shape, Kind kind) {
        return kind == Kind.LINEAR && fp8Block != null ? DType.F8_E4M3 : kind == Kind.SCORE_BIAS ? DType.F32 : DType.BF16;
    }

    @Override
    public TensorData tensor(String name, long[] shape, Kind kind, Split.Piece piece) {
        DType dtype = dtype(name, shape, kind);
        Layout at = Layout.of(shape, piece);
        MemorySegment m = PieceMemory.allocate(at.elements() * dtype.bytes);
        fill(m, at, dtype, kind, SEED ^ name.hashCode() * GOLDEN);
        return new TensorData(name, dtype, at.pieceShape(), m, "dummy weights");
    }

    /**
     * Where a piece's elements sit in the whole tensor: {@code runs} runs of {@code runLength} contiguous elements,
     * run r starting at whole-tensor index {@code first + r * stride}. Rows are one run; columns one run per row.
     */
    private record Layout(long runs, long runLength, long first, long stride, long[] pieceShape) {
        static Layout of(long[] shape, Split.Piece p) {
            long cols = shape.length == 2 ? shape[1] : 1;
            long[] s = shape.clone();
            s[p.axis()] = p.count();
            if (p.axis() == 0) return new Layout(1, p.count() * cols, p.start() * cols, 0, s);
            return new Layout(shape[0], p.count(), p.start(), cols, s);
        }

        long elements() {
            return runs * runLength;
        }
    }

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Fills the piece in parallel blocks; values depend only on whole-tensor indices, not on blocks or threads. */
    private static void fill(MemorySegment m, Layout at, DType dtype, Kind kind, long seed) {
        long n = at.elements();
        LongStream.range(0, (n + BLOCK - 1) / BLOCK).parallel().forEach(b -> {
            long from = b * BLOCK;
            int len = (int) Math.min(BLOCK, n - from);
            byte[] bytes = dtype == DType.F8_E4M3 ? new byte[len] : null;
            float[] floats = dtype == DType.F32 ? new float[len] : null;
            short[] shorts = bytes == null && floats == null ? new short[len] : null;
            // walk the block run by run: one division at its start, none per element
            long run = from / at.runLength(), offset = from % at.runLength();
            for (int i = 0; i < len; i++) {
                long x = bits(seed, at.first() + run * at.stride() + offset);
                if (++offset == at.runLength()) {
                    offset = 0;
                    run++;
                }
                if (bytes != null) {
                    // exponents 3..10 (values 2^-4 .. 2^3 before scaling), random mantissa and sign; no NaN codes
                    int e = 3 + (int) (x & 7), mant = (int) (x >>> 3) & 7, sign = (int) (x >>> 6) & 1;
                    bytes[i] = (byte) (sign << 7 | e << 3 | mant);
                } else if (floats != null) {
                    floats[i] = value(x, kind);
                } else {
                    shorts[i] = (short) (Float.floatToRawIntBits(value(x, kind)) >>> 16);
                }
            }
            if (bytes != null) MemorySegment.copy(bytes, 0, m, ValueLayout.JAVA_BYTE, from, len);
            else if (floats != null) MemorySegment.copy(floats, 0, m, FLOAT, from * 4, len);
            else MemorySegment.copy(shorts, 0, m, SHORT, from * 2, len);
        });
    }

    /**
     * The random bits of whole-tensor element {@code i}: position k of stream s draws mix(seed + s * STREAM_STEP +
     * (k + 1) * GOLDEN), a counter-based generator, so any element is computed without its predecessors.
     */
    static long bits(long seed, long i) {
        long stream = i >>> STREAM_BITS, k = i & ((1L << STREAM_BITS) - 1);
        return mix(seed + stream * STREAM_STEP + (k + 1) * GOLDEN);
    }

    private static float value(long bits, Kind kind) {
        if (kind == Kind.NORM) return 1f;
        // uniform on [-sqrt(3), sqrt(3)] has unit variance
        float u = ((bits >>> 40) / (float) (1L << 24)) * 2f - 1f;
        return u * 1.7320508f * (kind == Kind.SCORE_BIAS ? 0.001f : STD);
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** One scale for every block: codes span about 2^-4..2^3 (rms near 2), so weights have std near STD. */
    @Override
    public TensorData scales(String weightName, long[] scaleShape, Split.Piece piece) {
        long[] s = scaleShape.clone();
        s[piece.axis()] = piece.count();
        long n = s[0] * s[1];
        MemorySegment m = PieceMemory.allocate(n * 4);
        for (long i = 0; i < n; i++) m.setAtIndex(FLOAT, i, STD / 2f);
        return new TensorData(weightName + "_scale_inv", DType.F32, s, m, "dummy weights");
    }

    @Override
    public boolean has(String name) {
        return true;
    }

    @Override
    public String describe() {
        return "dummy weights (" + (fp8Block == null ? "bf16" : "fp8 block " + fp8Block[0] + "x" + fp8Block[1]) + ")";
    }

    /** Nothing to free: every piece's memory goes when the piece is unreachable. */
    @Override
    public void close() {}
}
