package kiln.model;

import kiln.io.DType;
import kiln.io.TensorData;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Deterministic random weights of the shapes and dtypes a real checkpoint of this config would have
 * ({@code --load-format dummy}): the same name always gets the same values, whatever the load order. Linear
 * layers of FP8 configs are FP8 with block scales; values have std about 0.02 like HF's initialiser; norms are 1.
 *
 * <p>A tensor-parallel rank gets the whole tensor and keeps its part, so every rank's part equals the same slice of
 * the one-rank model's tensor (and TP N computes what TP 1 does); the cost is that each rank generates, and holds
 * until closed, every tensor whole.
 */
final class DummySource implements WeightSource {
    private static final long SEED = 0x6b696c6eL; // "kiln"
    private static final float STD = 0.02f;
    private final Arena arena = Arena.ofShared();
    private final int[] fp8Block;

    DummySource(int[] fp8Block) {
        this.fp8Block = fp8Block;
    }

    @Override
    public TensorData tensor(String name, long[] shape, Kind kind) {
        long n = 1;
        for (long d : shape) n *= d;
        boolean fp8 = kind == Kind.LINEAR && fp8Block != null;
        DType dtype = fp8 ? DType.F8_E4M3 : kind == Kind.SCORE_BIAS ? DType.F32 : DType.BF16;
        MemorySegment m = arena.allocate(n * dtype.bytes, 64);
        long seed = SEED ^ name.hashCode() * 0x9E3779B97F4A7C15L;
        fill(m, n, dtype, kind, seed);
        return new TensorData(name, dtype, shape.clone(), m, "dummy weights");
    }

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Fills in parallel chunks; each chunk has its own stream, so values do not depend on the thread count. */
    private static void fill(MemorySegment m, long n, DType dtype, Kind kind, long seed) {
        int chunk = 1 << 16;
        long chunks = (n + chunk - 1) / chunk;
        java.util.stream.LongStream.range(0, chunks).parallel().forEach(c -> {
            long from = c * chunk, to = Math.min(n, from + chunk);
            int len = (int) (to - from);
            long state = seed + c * 0xBF58476D1CE4E5B9L;
            switch (dtype) {
                case F8_E4M3 -> {
                    byte[] buf = new byte[len];
                    for (int i = 0; i < len; i++) {
                        long bits = mix(state += 0x9E3779B97F4A7C15L);
                        // exponents 3..10 (values 2^-4 .. 2^3 before scaling), random mantissa and sign; no NaN codes
                        int e = 3 + (int) (bits & 7), mant = (int) (bits >>> 3) & 7, sign = (int) (bits >>> 6) & 1;
                        buf[i] = (byte) (sign << 7 | e << 3 | mant);
                    }
                    MemorySegment.copy(buf, 0, m, ValueLayout.JAVA_BYTE, from, len);
                }
                case F32 -> {
                    float[] buf = new float[len];
                    for (int i = 0; i < len; i++) buf[i] = value(mix(state += 0x9E3779B97F4A7C15L), kind);
                    MemorySegment.copy(buf, 0, m, FLOAT, from * 4, len);
                }
                default -> {
                    short[] buf = new short[len];
                    for (int i = 0; i < len; i++) {
                        buf[i] = (short) (Float.floatToRawIntBits(value(mix(state += 0x9E3779B97F4A7C15L), kind)) >>> 16);
                    }
                    MemorySegment.copy(buf, 0, m, SHORT, from * 2, len);
                }
            }
        });
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

    @Override
    public TensorData scaleFor(TensorData weight, long[] scaleShape) {
        if (weight.dtype() != DType.F8_E4M3) return null;
        long n = scaleShape[0] * scaleShape[1];
        MemorySegment m = arena.allocate(n * 4, 64);
        // codes span about 2^-4..2^3 (rms near 2), so this scale gives weights of std near STD
        for (long i = 0; i < n; i++) m.setAtIndex(FLOAT, i, STD / 2f);
        return new TensorData(weight.name() + "_scale_inv", DType.F32, scaleShape.clone(), m, "dummy weights");
    }

    @Override
    public boolean has(String name) {
        return true;
    }

    @Override
    public Arena arena() {
        return arena;
    }

    @Override
    public String describe() {
        return "dummy weights (" + (fp8Block == null ? "bf16" : "fp8 block " + fp8Block[0] + "x" + fp8Block[1]) + ")";
    }

    @Override
    public void close() {
        arena.close();
    }
}
