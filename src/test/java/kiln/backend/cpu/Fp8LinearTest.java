package kiln.backend.cpu;

import kiln.io.DType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** FP8 block-scaled linear layers on the CPU: against a double-precision dequantised product, and batch-invariant. */
class Fp8LinearTest {
    /** 300 rows (a partial last scale block), 1000 columns (a partial last block, a scalar tail past 62 vectors of 16). */
    private static final int ROWS = 300, COLS = 1000, BLOCK = 128;

    private final Random random = new Random(7);
    private final byte[] codes = new byte[ROWS * COLS];
    private final float[] realScales = new float[ceil(ROWS) * ceil(COLS)];
    private final CpuWeight weight = weight();

    private static int ceil(int n) {
        return (n + BLOCK - 1) / BLOCK;
    }

    private CpuWeight weight() {
        MemorySegment data = Arena.ofAuto().allocate(codes.length);
        for (int i = 0; i < codes.length; i++) {
            codes[i] = (byte) (random.nextInt(0x7F) | (random.nextBoolean() ? 0x80 : 0));  // never 0x7F / 0xFF (NaN)
            data.set(ValueLayout.JAVA_BYTE, i, codes[i]);
        }
        float[] stored = new float[realScales.length];
        for (int i = 0; i < stored.length; i++) {
            realScales[i] = 0.001f * (1 + random.nextFloat());
            stored[i] = realScales[i] * 0x1p120f;  // as the loader stores them: the codes widen 2^-120 off
        }
        return new CpuWeight(DType.F8_E4M3, ROWS, COLS, data, stored, BLOCK, BLOCK, ceil(COLS));
    }

    /** e4m3: sign, 4 exponent bits (bias 7), 3 mantissa bits; exponent 0 is subnormal. */
    private static double decode(byte code) {
        int e = (code >> 3) & 0xF, m = code & 7;
        double v = e == 0 ? m / 8.0 * Math.pow(2, -6) : (1 + m / 8.0) * Math.pow(2, e - 7);
        return code < 0 ? -v : v;
    }

    private double[] reference(float[] x) {
        double[] out = new double[ROWS];
        for (int r = 0; r < ROWS; r++) {
            double sum = 0;
            for (int k = 0; k < COLS; k++) sum += x[k] * decode(codes[r * COLS + k]) * realScales[(r / BLOCK) * ceil(COLS) + k / BLOCK];
            out[r] = sum;
        }
        return out;
    }

    private float[] tokens(int n, double scale) {
        float[] x = new float[n * COLS];
        for (int i = 0; i < x.length; i++) x[i] = (float) (random.nextGaussian() * scale);
        return x;
    }

    private static float[] forward(CpuWeight w, float[] x, int tokens) {
        CpuTensor in = new CpuTensor(x, 0, tokens, COLS, COLS), out = CpuTensor.allocate(tokens, ROWS);
        Linear.forward(in, w, null, out, true);
        return out.data();
    }

    private static void assertClose(double[] ref, float[] got, int at, String what) {
        double scale = Arrays.stream(ref).map(Math::abs).max().orElse(1), worst = 0;
        for (int r = 0; r < ROWS; r++) {
            assertTrue(Float.isFinite(got[at + r]), what + ": row " + r + " is " + got[at + r]);
            worst = Math.max(worst, Math.abs(got[at + r] - ref[r]));
        }
        assertTrue(worst <= 1e-5 * scale, what + ": max error " + worst + " of " + scale);
    }

    @Test
    void matchesTheDequantisedProductAloneAndInBatchesOfEverySize() {
        float[] batch = tokens(40, 1);
        float[] first = Arrays.copyOf(batch, COLS);
        float[] alone = forward(weight, first, 1);
        assertClose(reference(first), alone, 0, "one token");
        // 5 tokens: the decode tiles; 40: the widened rows and 4 x 2 tiles; the first token's outputs bit for bit
        for (int n : new int[]{5, 40}) {
            float[] out = forward(weight, Arrays.copyOf(batch, n * COLS), n);
            assertArrayEquals(alone, Arrays.copyOf(out, ROWS), "token 0 in a batch of " + n);
            float[] last = Arrays.copyOfRange(batch, (n - 1) * COLS, n * COLS);
            assertClose(reference(last), out, (n - 1) * ROWS, "token " + (n - 1) + " of " + n);
        }
    }

    @Test
    void hugeActivationsStayFiniteAndBatchInvariant() {
        float[] batch = tokens(20, 1);
        for (int k = 0; k < COLS; k++) batch[3 * COLS + k] *= 1e30f;  // |x * scale| * 2^120 would pass float's range
        float[] huge = Arrays.copyOfRange(batch, 3 * COLS, 4 * COLS);
        float[] alone = forward(weight, huge, 1);
        assertClose(reference(huge), alone, 0, "a huge token alone");
        float[] out = forward(weight, batch, 20);
        assertArrayEquals(alone, Arrays.copyOfRange(out, 3 * ROWS, 4 * ROWS), "the huge token in a batch of 20");
        float[] small = Arrays.copyOf(batch, COLS);
        assertArrayEquals(forward(weight, small, 1), Arrays.copyOf(out, ROWS), "an ordinary token beside it");
    }
}
