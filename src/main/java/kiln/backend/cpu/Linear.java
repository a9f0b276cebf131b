package kiln.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;
import kiln.io.DType;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * out = x W^T (+ bias) with W read in its stored precision (f32 or bf16; fp8 e4m3 with block scales goes to
 * {@link Fp8Linear}) and float accumulation.
 *
 * <p>Every output element is computed by the same sequence of operations whatever the batch size or tile it falls
 * in: a vector accumulator over the whole lanes of the row, a scalar tail, one lane reduction. So a
 * request's logits do not depend on what else is in the batch, and greedy output is batch-invariant.
 *
 * <p>Fewer than {@link #WIDEN_FROM} tokens (decode batches): weights are widened in registers, 1 token x 4 rows so
 * that four independent FMA chains run (the four rows in different 4 KiB pages, see {@link #pageStride}), the four
 * rows re-read from L1 for each token. {@link #WIDEN_FROM} or more (prefill): two rows at a time are widened once
 * into a float scratch row, then 4 tokens x 2 rows tiles reuse them from L1. Both paths compute x * w in the same
 * order, so where the line between them lies changes speed, not results. FP8 weights take {@link Fp8Linear} (the
 * block scale carried by the activations), which keeps the same property.
 */
final class Linear {
    private Linear() {}

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int L = F.length();
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16));
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private static final VectorShuffle<Float> ROTATE_8 = rotate(8), ROTATE_4 = rotate(4), ROTATE_2 = rotate(2),
            ROTATE_1 = rotate(1);

    private static VectorShuffle<Float> rotate(int by) {
        return VectorShuffle.fromOp(F, lane -> (lane + Math.min(by, L - 1)) % L);
    }

    /**
     * Sum of the lanes in a fixed pairwise order. reduceLanes(ADD) may add in a different order once compiled
     * than when interpreted, which would make results depend on JIT state. (Shuffles are static finals so that
     * the compiler sees constants and emits permutes.)
     */
    static float sum(FloatVector v) {
        if (L >= 16) v = v.add(v.rearrange(ROTATE_8));
        if (L >= 8) v = v.add(v.rearrange(ROTATE_4));
        if (L >= 4) v = v.add(v.rearrange(ROTATE_2));
        v = v.add(v.rearrange(ROTATE_1));
        return v.lane(0);
    }

    private static final int K_F32 = 0, K_BF16 = 1;

    /** The stored types read here; fp8 weights go through {@link Fp8Linear}. */
    private static int kind(DType d) {
        return switch (d) {
            case F32 -> K_F32;
            case BF16 -> K_BF16;
            default -> throw new IllegalArgumentException("CPU linear: unsupported weight dtype " + d);
        };
    }

    private static int bytesPer(int kind) {
        return kind == K_F32 ? 4 : 2;
    }

    /**
     * L weights from byte offset {@code off}, widened to float. The per-type loaders are kept tiny so that C2 always
     * inlines them: a vector returned from a call that is not inlined gets boxed and the conversions fall back to
     * Java code.
     */
    private static FloatVector load(int kind, MemorySegment m, long off) {
        return kind == K_BF16 ? bf16(m, off) : f32(m, off);
    }

    private static FloatVector bf16(MemorySegment m, long off) {
        return ((IntVector) ShortVector.fromMemorySegment(S, m, off, LE).convertShape(VectorOperators.S2I, I, 0))
                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    private static FloatVector f32(MemorySegment m, long off) {
        return FloatVector.fromMemorySegment(F, m, off, LE);
    }

    private static float loadScalar(int kind, MemorySegment m, long off) {
        return switch (kind) {
            case K_BF16 -> Float.intBitsToFloat((m.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, off) & 0xFFFF) << 16);
            default -> m.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, off);
        };
    }

    /** out = x W^T + bias; {@code parallel} splits the weight rows over the cores. */
    static void forward(CpuTensor x, CpuWeight w, float[] bias, CpuTensor out, boolean parallel) {
        if (x.cols() != w.cols()) {
            throw new IllegalArgumentException("linear: input has " + x.cols() + " columns, weight expects " + w.cols());
        }
        if (out.cols() != w.rows() || out.rows() != x.rows()) {
            throw new IllegalArgumentException("linear: output " + out.rows() + "x" + out.cols() + " for "
                    + x.rows() + " tokens x " + w.rows() + " rows");
        }
        Parallel.Range body;
        if (w.dtype() == DType.F8_E4M3) {
            float[] down = Fp8Linear.downScales(x, w);
            body = (r0, r1) -> Fp8Linear.rows(x, w, bias, down, out, r0, r1);
        } else {
            body = (r0, r1) -> rows(x, w, bias, out, r0, r1);
        }
        if (parallel) Parallel.forRange(w.rows(), Math.max(4, 16384 / Math.max(1, w.cols())), body);
        else body.run(0, w.rows());
    }

    private static final int PAGE = 4096;

    /**
     * Rows between the members of a decode tile: enough that four rows never share a 4 KiB page. Intel's L2
     * streamer follows one ascending stream per page, so four rows in one page are mostly fetched on demand
     * (performance.md, "CPU model runtime", has the figures).
     */
    static int pageStride(CpuWeight w) {
        long rowBytes = (long) w.cols() * w.dtype().bytes;
        return (int) Math.max(1, (PAGE + rowBytes - 1) / rowBytes);
    }

    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[0]);

    /**
     * Tokens from which widening rows into scratch pays: below it, re-widening each row per token in registers is
     * faster than the scratch row's 4 x 2 tiles (performance.md, "Batched CPU decode").
     */
    static final int WIDEN_FROM = 16;

    private static void rows(CpuTensor x, CpuWeight w, float[] bias, CpuTensor out, int r0, int r1) {
        int tokens = x.rows();
        if (tokens < WIDEN_FROM) {
            // Tiles of four rows `stride` apart, so that each row streams from its own 4 KiB page; rows outer,
            // tokens inner: the four rows stay in cache for the tokens after the first.
            int r = r0, pageRows = pageStride(w);
            while (r1 - r >= 4) {
                int stride = Math.min(pageRows, (r1 - r) / 4);
                for (int j = 0; j < stride; j++) for (int t = 0; t < tokens; t++) tile1x4(x, t, w, r + j, stride, bias, out);
                r += 4 * stride;
            }
            for (; r < r1; r++) for (int t = 0; t < tokens; t++) tile1x1(x, t, w, r, bias, out);
            return;
        }
        // Many tokens: widen two rows once into scratch and reuse them for every token tile.
        int in = w.cols();
        float[] scratch = rowScratch(in);
        for (int r = r0; r < r1; r += 2) {
            boolean pair = r + 1 < r1;
            widenRow(w, r, scratch, 0);
            if (pair) widenRow(w, r + 1, scratch, in);
            widenedRowTiles(x, scratch, in, r, pair, bias, out);
        }
    }

    /** This thread's scratch for two widened rows of {@code in} values. */
    static float[] rowScratch(int in) {
        float[] scratch = SCRATCH.get();
        if (scratch.length < 2 * in) SCRATCH.set(scratch = new float[2 * in]);
        return scratch;
    }

    /** Every token of x against row r (and r + 1 when {@code pair}) widened in {@code rows}: 4 x 2 tiles, then one token at a time. */
    static void widenedRowTiles(CpuTensor x, float[] rows, int in, int r, boolean pair, float[] bias, CpuTensor out) {
        int tokens = x.rows(), t = 0;
        if (pair) for (; t + 4 <= tokens; t += 4) tile4x2(x, t, rows, in, r, bias, out);
        for (; t < tokens; t++) {
            store(out, t, r, dot(x, t, rows, 0, in), bias);
            if (pair) store(out, t, r + 1, dot(x, t, rows, in, in), bias);
        }
    }

    /** Row r as floats, exactly as the register path widens it. */
    static void widenRow(CpuWeight w, int r, float[] dst, int off) {
        int kind = kind(w.dtype()), bpe = bytesPer(kind), in = w.cols(), vin = in / L * L;
        MemorySegment m = w.data();
        long wo = (long) r * in * bpe;
        if (kind == K_BF16) for (int k = 0; k < vin; k += L) bf16(m, wo + 2L * k).intoArray(dst, off + k);
        else for (int k = 0; k < vin; k += L) f32(m, wo + 4L * k).intoArray(dst, off + k);
        for (int k = vin; k < in; k++) dst[off + k] = loadScalar(kind, m, wo + (long) k * bpe);
    }

    private static float dot(CpuTensor x, int t, float[] w, int wo, int in) {
        float[] xs = x.data();
        int xo = x.at(t, 0), vin = in / L * L;
        FloatVector acc = FloatVector.zero(F);
        for (int k = 0; k < vin; k += L) acc = FloatVector.fromArray(F, xs, xo + k).fma(FloatVector.fromArray(F, w, wo + k), acc);
        float tail = 0;
        for (int k = vin; k < in; k++) tail = Math.fma(xs[xo + k], w[wo + k], tail);
        return sum(acc) + tail;
    }

    private static void store(CpuTensor out, int t, int r, float v, float[] bias) {
        out.data()[out.at(t, r)] = bias == null ? v : v + bias[r];
    }

    private static void tile1x1(CpuTensor x, int t, CpuWeight w, int r, float[] bias, CpuTensor out) {
        int kind = kind(w.dtype()), bpe = bytesPer(kind), in = w.cols(), vin = in / L * L;
        MemorySegment m = w.data();
        float[] xs = x.data();
        int xo = x.at(t, 0);
        long wo = (long) r * in * bpe;
        FloatVector acc = FloatVector.zero(F);
        for (int k = 0; k < vin; k += L) acc = FloatVector.fromArray(F, xs, xo + k).fma(load(kind, m, wo + (long) k * bpe), acc);
        store(out, t, r, sum(acc) + tail(x, t, w, r), bias);
    }

    /**
     * One token against rows r, r + st, r + 2st and r + 3st. One method per stored type: a single method with all
     * three loops grows past C2's node budget, which then stops inlining the vector intrinsics and falls back to
     * Java code.
     */
    private static void tile1x4(CpuTensor x, int t, CpuWeight w, int r, int st, float[] bias, CpuTensor out) {
        if (kind(w.dtype()) == K_BF16) tile1x4Bf16(x, t, w, r, st, bias, out);
        else tile1x4F32(x, t, w, r, st, bias, out);
    }

    private static void tile1x4Bf16(CpuTensor x, int t, CpuWeight w, int r, int st, float[] bias, CpuTensor out) {
        MemorySegment m = w.data();
        float[] xs = x.data();
        int xo = x.at(t, 0), vin = w.cols() / L * L;
        long rowBytes = 2L * w.cols(), step = st * rowBytes, w0 = r * rowBytes, w1 = w0 + step, w2 = w1 + step,
                w3 = w2 + step;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (int k = 0; k < vin; k += L) {
            long o = 2L * k;
            FloatVector xv = FloatVector.fromArray(F, xs, xo + k);
            a0 = xv.fma(bf16(m, w0 + o), a0);
            a1 = xv.fma(bf16(m, w1 + o), a1);
            a2 = xv.fma(bf16(m, w2 + o), a2);
            a3 = xv.fma(bf16(m, w3 + o), a3);
        }
        store4(x, t, w, r, st, sum(a0), sum(a1), sum(a2), sum(a3), bias, out);
    }

    private static void tile1x4F32(CpuTensor x, int t, CpuWeight w, int r, int st, float[] bias, CpuTensor out) {
        MemorySegment m = w.data();
        float[] xs = x.data();
        int xo = x.at(t, 0), vin = w.cols() / L * L;
        long rowBytes = 4L * w.cols(), step = st * rowBytes, w0 = r * rowBytes, w1 = w0 + step, w2 = w1 + step,
                w3 = w2 + step;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (int k = 0; k < vin; k += L) {
            long o = 4L * k;
            FloatVector xv = FloatVector.fromArray(F, xs, xo + k);
            a0 = xv.fma(f32(m, w0 + o), a0);
            a1 = xv.fma(f32(m, w1 + o), a1);
            a2 = xv.fma(f32(m, w2 + o), a2);
            a3 = xv.fma(f32(m, w3 + o), a3);
        }
        store4(x, t, w, r, st, sum(a0), sum(a1), sum(a2), sum(a3), bias, out);
    }

    /** Stores four outputs, adding the scalar tails first when the row length is not a whole number of vectors. */
    private static void store4(CpuTensor x, int t, CpuWeight w, int r, int st, float v0, float v1, float v2, float v3,
                               float[] bias, CpuTensor out) {
        if (w.cols() % L != 0) {
            v0 += tail(x, t, w, r);
            v1 += tail(x, t, w, r + st);
            v2 += tail(x, t, w, r + 2 * st);
            v3 += tail(x, t, w, r + 3 * st);
        }
        store(out, t, r, v0, bias);
        store(out, t, r + st, v1, bias);
        store(out, t, r + 2 * st, v2, bias);
        store(out, t, r + 3 * st, v3, bias);
    }

    /** x . w over the columns past the last whole vector. */
    private static float tail(CpuTensor x, int t, CpuWeight w, int r) {
        int kind = kind(w.dtype()), bpe = bytesPer(kind), in = w.cols(), vin = in / L * L;
        long wo = (long) r * in * bpe;
        int xo = x.at(t, 0);
        float tail = 0;
        for (int k = vin; k < in; k++) tail = Math.fma(x.data()[xo + k], loadScalar(kind, w.data(), wo + (long) k * bpe), tail);
        return tail;
    }

    private static void tile4x2(CpuTensor x, int t, float[] w, int in, int r, float[] bias, CpuTensor out) {
        float[] xs = x.data();
        int x0 = x.at(t, 0), x1 = x.at(t + 1, 0), x2 = x.at(t + 2, 0), x3 = x.at(t + 3, 0), vin = in / L * L;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        for (int k = 0; k < vin; k += L) {
            FloatVector v0 = FloatVector.fromArray(F, w, k), v1 = FloatVector.fromArray(F, w, in + k);
            FloatVector y = FloatVector.fromArray(F, xs, x0 + k);
            a00 = y.fma(v0, a00);
            a01 = y.fma(v1, a01);
            y = FloatVector.fromArray(F, xs, x1 + k);
            a10 = y.fma(v0, a10);
            a11 = y.fma(v1, a11);
            y = FloatVector.fromArray(F, xs, x2 + k);
            a20 = y.fma(v0, a20);
            a21 = y.fma(v1, a21);
            y = FloatVector.fromArray(F, xs, x3 + k);
            a30 = y.fma(v0, a30);
            a31 = y.fma(v1, a31);
        }
        float t00 = 0, t01 = 0, t10 = 0, t11 = 0, t20 = 0, t21 = 0, t30 = 0, t31 = 0;
        for (int k = vin; k < in; k++) {
            float v0 = w[k], v1 = w[in + k];
            t00 = Math.fma(xs[x0 + k], v0, t00);
            t01 = Math.fma(xs[x0 + k], v1, t01);
            t10 = Math.fma(xs[x1 + k], v0, t10);
            t11 = Math.fma(xs[x1 + k], v1, t11);
            t20 = Math.fma(xs[x2 + k], v0, t20);
            t21 = Math.fma(xs[x2 + k], v1, t21);
            t30 = Math.fma(xs[x3 + k], v0, t30);
            t31 = Math.fma(xs[x3 + k], v1, t31);
        }
        store(out, t, r, sum(a00) + t00, bias);
        store(out, t, r + 1, sum(a01) + t01, bias);
        store(out, t + 1, r, sum(a10) + t10, bias);
        store(out, t + 1, r + 1, sum(a11) + t11, bias);
        store(out, t + 2, r, sum(a20) + t20, bias);
        store(out, t + 2, r + 1, sum(a21) + t21, bias);
        store(out, t + 3, r, sum(a30) + t30, bias);
        store(out, t + 3, r + 1, sum(a31) + t31, bias);
    }
}
