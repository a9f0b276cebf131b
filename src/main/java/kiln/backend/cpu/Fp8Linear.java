package kiln.backend.cpu;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static kiln.backend.cpu.Linear.F;
import static kiln.backend.cpu.Linear.L;

/**
 * out = x W^T for fp8 e4m3 weights with block scales, the scale carried by the activations: for the rows of one
 * 128-row scale block, xs[t][k] = x[t][k] * scale[block][k / blockCols] is formed once, and every output is
 * sum_k xs[t][k] * w[r][k] over the raw codes (float32 bits by a shift, 2^-120 off; the stored scales carry the
 * 2^120). Widening a code then costs three vector operations and no multiply, and the four rows of a decode tile share
 * one load of xs.
 *
 * <p>Every output is computed the same way whatever the batch or tile (a vector accumulator over the whole lanes of
 * the row, a scalar tail, one lane reduction), so greedy output stays batch-invariant. xs could overflow for huge
 * activations (|x * scale| past 2^8 with the 2^120 inside): a token whose largest |x| would overflow takes its
 * activations scaled down by a power of two and its outputs scaled back up, exactly, so that nothing depends on
 * what else is in the batch.
 */
final class Fp8Linear {
    private Fp8Linear() {}

    /** Tokens whose scaled activations are formed at once in the prefill path (a cache-sized block of xs). */
    private static final int GROUP = 64;
    /** Largest |x| * scale kept as is: leaves 2^13 of headroom below float's 2^128 for the sums. */
    private static final float LIMIT = 0x1p114f;

    private static final ThreadLocal<float[]> XS = ThreadLocal.withInitial(() -> new float[0]);

    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8));

    /** Sign-extended byte << 20, keeping sign and the 7 value bits: e4m3 in float32's layout, exponent 2^-120 off. */
    private static FloatVector fp8(MemorySegment m, long off) {
        return ((IntVector) ByteVector.fromMemorySegment(B, m, off, ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.B2I, I, 0))
                .lanewise(VectorOperators.LSHL, 20).and(0x87F00000).reinterpretAsFloats();
    }

    /** One code as {@link #fp8} widens it. */
    private static float fp8Scalar(MemorySegment m, long off) {
        return Float.intBitsToFloat((m.get(ValueLayout.JAVA_BYTE, off) << 20) & 0x87F00000);
    }

    /**
     * Per token, the power of two its activations are multiplied by before the scales (1 but for huge activations),
     * from the largest |x| and the largest scale of the weight.
     */
    static float[] downScales(CpuTensor x, CpuWeight w) {
        float maxScale = 0;
        for (float s : w.scales()) maxScale = Math.max(maxScale, Math.abs(s));
        float[] down = new float[x.rows()];
        for (int t = 0; t < x.rows(); t++) {
            float max = 0;
            int xo = x.at(t, 0);
            for (int k = 0; k < x.cols(); k++) max = Math.max(max, Math.abs(x.data()[xo + k]));
            double peak = (double) max * maxScale;  // in double: the float product may already be past float's range
            int e = 0;
            while (Double.isFinite(peak) && Math.scalb(peak, -e) > LIMIT) e++;
            down[t] = Math.scalb(1f, -e);
        }
        return down;
    }

    /** Rows [r0, r1) of out, by scale block of rows; bias added after, as Linear's store adds it. */
    static void rows(CpuTensor x, CpuWeight w, float[] bias, float[] down, CpuTensor out, int r0, int r1) {
        int tokens = x.rows(), in = w.cols(), br = w.blockRows();
        for (int a = r0; a < r1; ) {
            int rb = a / br, b = Math.min(r1, (rb + 1) * br);
            for (int t0 = 0; t0 < tokens; t0 += GROUP) {
                int t1 = Math.min(tokens, t0 + GROUP);
                CpuTensor xs = scaled(x, w, rb, t0, t1, down);
                CpuTensor o = new CpuTensor(out.data(), out.at(t0, 0), t1 - t0, out.cols(), out.stride());
                if (tokens < Linear.WIDEN_FROM) decodeRows(xs, w, o, a, b);
                else prefillRows(xs, w, o, a, b);
                for (int t = t0; t < t1; t++) {
                    float up = 1 / down[t];
                    int oo = out.at(t, 0);
                    for (int r = a; r < b; r++) {
                        float v = up == 1 ? out.data()[oo + r] : out.data()[oo + r] * up;
                        out.data()[oo + r] = bias == null ? v : v + bias[r];
                    }
                }
            }
            a = b;
        }
    }

    /** xs = x[t0, t1) * scale[rb][k / blockCols] * down[t], a thread-local (t1 - t0) x in block. */
    private static CpuTensor scaled(CpuTensor x, CpuWeight w, int rb, int t0, int t1, float[] down) {
        int in = w.cols(), bc = w.blockCols(), n = (t1 - t0) * in;
        float[] xs = XS.get();
        if (xs.length < n) XS.set(xs = new float[n]);
        float[] s = w.scales();
        int so = rb * w.scaleCols();
        for (int t = t0; t < t1; t++) {
            int xo = x.at(t, 0), d = (t - t0) * in;
            for (int c0 = 0, b = 0; c0 < in; c0 += bc, b++) {
                float sc = s[so + b] * down[t];
                int c1 = Math.min(in, c0 + bc), k = c0;
                FloatVector sv = FloatVector.broadcast(F, sc);
                for (; k + L <= c1; k += L) FloatVector.fromArray(F, x.data(), xo + k).mul(sv).intoArray(xs, d + k);
                for (; k < c1; k++) xs[d + k] = x.data()[xo + k] * sc;
            }
        }
        return new CpuTensor(xs, 0, t1 - t0, in, in);
    }

    /** Few tokens: tiles of one token x four rows a page apart (as Linear's decode tiles), the codes widened in registers. */
    private static void decodeRows(CpuTensor xs, CpuWeight w, CpuTensor out, int r0, int r1) {
        int tokens = xs.rows(), r = r0, pageRows = Linear.pageStride(w);
        while (r1 - r >= 4) {
            int stride = Math.min(pageRows, (r1 - r) / 4);
            for (int j = 0; j < stride; j++) for (int t = 0; t < tokens; t++) tile1x4(xs, t, w, r + j, stride, out);
            r += 4 * stride;
        }
        for (; r < r1; r++) for (int t = 0; t < tokens; t++) out.data()[out.at(t, r)] = dot(xs, t, w, r);
    }

    private static void tile1x4(CpuTensor xs, int t, CpuWeight w, int r, int st, CpuTensor out) {
        MemorySegment m = w.data();
        float[] xd = xs.data();
        int in = w.cols(), vin = in / L * L, xo = xs.at(t, 0);
        long step = (long) st * in, w0 = (long) r * in, w1 = w0 + step, w2 = w1 + step, w3 = w2 + step;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (int k = 0; k < vin; k += L) {
            FloatVector xv = FloatVector.fromArray(F, xd, xo + k);
            a0 = xv.fma(fp8(m, w0 + k), a0);
            a1 = xv.fma(fp8(m, w1 + k), a1);
            a2 = xv.fma(fp8(m, w2 + k), a2);
            a3 = xv.fma(fp8(m, w3 + k), a3);
        }
        float[] o = out.data();
        o[out.at(t, r)] = Linear.sum(a0) + tail(xs, t, w, r);
        o[out.at(t, r + st)] = Linear.sum(a1) + tail(xs, t, w, r + st);
        o[out.at(t, r + 2 * st)] = Linear.sum(a2) + tail(xs, t, w, r + 2 * st);
        o[out.at(t, r + 3 * st)] = Linear.sum(a3) + tail(xs, t, w, r + 3 * st);
    }

    /** xs[t] . raw row r: the tiles' sequence of operations for one row. */
    private static float dot(CpuTensor xs, int t, CpuWeight w, int r) {
        MemorySegment m = w.data();
        int in = w.cols(), vin = in / L * L, xo = xs.at(t, 0);
        long wo = (long) r * in;
        FloatVector acc = FloatVector.zero(F);
        for (int k = 0; k < vin; k += L) acc = FloatVector.fromArray(F, xs.data(), xo + k).fma(fp8(m, wo + k), acc);
        return Linear.sum(acc) + tail(xs, t, w, r);
    }

    /** The columns past the last whole vector (none when the row is a multiple of the vector length). */
    private static float tail(CpuTensor xs, int t, CpuWeight w, int r) {
        int in = w.cols(), vin = in / L * L, xo = xs.at(t, 0);
        long wo = (long) r * in;
        float tail = 0;
        for (int k = vin; k < in; k++) tail = Math.fma(xs.data()[xo + k], fp8Scalar(w.data(), wo + k), tail);
        return tail;
    }

    /** Many tokens: two raw rows widened once into scratch, then Linear's 4 x 2 tiles over the scaled activations. */
    private static void prefillRows(CpuTensor xs, CpuWeight w, CpuTensor out, int r0, int r1) {
        int in = w.cols();
        float[] rows = Linear.rowScratch(in);
        for (int r = r0; r < r1; r += 2) {
            boolean pair = r + 1 < r1;
            widenRaw(w, r, rows, 0);
            if (pair) widenRaw(w, r + 1, rows, in);
            Linear.widenedRowTiles(xs, rows, in, r, pair, null, out);
        }
    }

    /** Row r's raw codes as floats (2^-120 off), exactly as the decode tiles widen them. */
    private static void widenRaw(CpuWeight w, int r, float[] dst, int off) {
        MemorySegment m = w.data();
        int in = w.cols(), vin = in / L * L;
        long wo = (long) r * in;
        for (int k = 0; k < vin; k += L) fp8(m, wo + k).intoArray(dst, off + k);
        for (int k = vin; k < in; k++) dst[off + k] = fp8Scalar(m, wo + k);
    }
}
