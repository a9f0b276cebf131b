package kiln.backend.cpu;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;
import kiln.backend.ForwardBatch;
import kiln.backend.Heads;
import kiln.io.Fp8;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Causal attention of each new token over its sequence's slots in the paged cache. Scores are computed for all
 * visible keys, then softmax, then the weighted sum of values: per (token, head) the work depends only on that
 * sequence's keys, never on the rest of the batch. An FP8 cache (MLA only) holds e4m3 bytes, widened to floats
 * as they are read ({@link #e4m3}; tails through a table of the 256 values).
 */
final class Attention {
    private Attention() {}

    private static final VectorSpecies<Float> F = Linear.F;
    private static final int L = Linear.L;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8));

    /** Every e4m3 code's value. */
    private static final float[] E4M3 = new float[256];

    static {
        for (int c = 0; c < 256; c++) E4M3[c] = Fp8.toFloat((byte) c);
    }

    private static final ThreadLocal<float[]> SCORES = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<float[]> ACC = ThreadLocal.withInitial(() -> new float[0]);

    /** Copies rows of {@code src} into the slots' entries at value {@code at} of each entry (rounded to e4m3 in an FP8 cache). */
    static void store(CpuKvCache cache, int layer, ForwardBatch batch, CpuTensor src, int at) {
        MemorySegment m = cache.layers[layer];
        for (ForwardBatch.Seq s : batch.seqs()) {
            for (int i = 0; i < s.newTokens(); i++) {
                int t = s.tokenStart() + i;
                long dst = cache.offset(s.slots()[s.cachedTokens() + i], at);
                if (cache.fp8) {
                    for (int k = 0, from = src.at(t, 0); k < src.cols(); k++) m.set(ValueLayout.JAVA_BYTE, dst + k, Fp8.fromFloat(src.data()[from + k]));
                } else {
                    MemorySegment.copy(src.data(), src.at(t, 0), m, FLOAT, dst, src.cols());
                }
            }
        }
    }

    /** Work items: one per (new token, query head); index = token * heads + head. */
    private static int[] tokenSeq(ForwardBatch batch) {
        int[] seqOf = new int[batch.numTokens()];
        for (int si = 0; si < batch.seqs().size(); si++) {
            ForwardBatch.Seq s = batch.seqs().get(si);
            for (int i = 0; i < s.newTokens(); i++) seqOf[s.tokenStart() + i] = si;
        }
        return seqOf;
    }

    /**
     * MLA, absorbed: key = [c_kv | k_rope] (entry floats [0, latent) and [latent, latent + rope)), value = c_kv.
     */
    static void mla(CpuKvCache cache, int layer, ForwardBatch batch, Heads qLatent, Heads qRope, float scale, Heads out) {
        MemorySegment m = cache.layers[layer];
        int heads = qLatent.count(), latent = qLatent.width(), rope = qRope.width();
        int[] seqOf = tokenSeq(batch);
        CpuTensor ql = (CpuTensor) qLatent.tensor(), qr = (CpuTensor) qRope.tensor(), o = (CpuTensor) out.tensor();
        Parallel.forRange(batch.numTokens() * heads, 1, (from, to) -> {
            for (int item = from; item < to; item++) {
                int t = item / heads, h = item % heads;
                ForwardBatch.Seq s = batch.seqs().get(seqOf[t]);
                int visible = s.cachedTokens() + (t - s.tokenStart()) + 1;
                float[] scores = scratch(SCORES, visible);
                int qlOff = ql.at(t, qLatent.column(h)), qrOff = qr.at(t, qRope.column(h));
                for (int j = 0; j < visible; j++) {
                    int slot = s.slots()[j];
                    scores[j] = scale * (dot(cache, ql.data(), qlOff, m, cache.offset(slot), latent)
                            + dot(cache, qr.data(), qrOff, m, cache.offset(slot, latent), rope));
                }
                float[] acc = scratch(ACC, latent);
                softmaxWeightedSum(scores, visible, m, s.slots(), cache, 0, latent, acc);
                System.arraycopy(acc, 0, o.data(), o.at(t, out.column(h)), latent);
            }
        });
    }

    /** Each sequence's entries for slots [0, totalTokens), sequences one after the other, into rows of {@code out}. */
    static void gatherContext(CpuKvCache cache, int layer, ForwardBatch batch, CpuTensor out) {
        MemorySegment m = cache.layers[layer];
        int width = cache.layout().valuesPerToken(), row = 0;
        if (out.rows() != batch.contextTokens()) {
            throw new IllegalArgumentException("mlaStoreGather: " + out.rows() + " output rows for " + batch.contextTokens() + " context rows");
        }
        for (ForwardBatch.Seq s : batch.seqs()) {
            for (int j = 0; j < s.totalTokens(); j++, row++) {
                long from = cache.offset(s.slots()[j]);
                if (cache.fp8) {
                    for (int k = 0, to = out.at(row, 0); k < width; k++) out.data()[to + k] = E4M3[m.get(ValueLayout.JAVA_BYTE, from + k) & 0xFF];
                } else {
                    MemorySegment.copy(m, FLOAT, from, out.data(), out.at(row, 0), width);
                }
            }
        }
    }

    /**
     * MLA prefill in the MHA form: key = [kNope_h | kRope] and value v_h of the sequence's context rows (laid out as
     * {@link #gatherContext} does), query = [qNope_h | qRope_h]; causal by the token's index in its chunk.
     */
    static void mhaPrefill(ForwardBatch batch, Heads qNope, Heads qRope, Heads kNope, CpuTensor kRope, Heads v, float scale, Heads out) {
        int heads = qNope.count(), nope = qNope.width(), rope = qRope.width(), vDim = v.width();
        if (kNope.width() != nope || kRope.cols() != rope || out.width() != vDim || qRope.count() != heads || kNope.count() != heads
                || v.count() != heads || out.count() != heads) {
            throw new IllegalArgumentException("mlaPrefillAttention: q " + heads + "x(" + nope + "+" + rope + "), k " + kNope.count() + "x("
                    + kNope.width() + "+" + kRope.cols() + "), v " + v.count() + "x" + vDim + ", out " + out.count() + "x" + out.width());
        }
        int seqs = batch.seqs().size();
        int[] seqOf = tokenSeq(batch), ctxStart = new int[seqs + 1];
        for (int si = 0; si < seqs; si++) ctxStart[si + 1] = ctxStart[si] + batch.seqs().get(si).totalTokens();
        CpuTensor qn = (CpuTensor) qNope.tensor(), qr = (CpuTensor) qRope.tensor(), kn = (CpuTensor) kNope.tensor(), vt = (CpuTensor) v.tensor();
        CpuTensor o = (CpuTensor) out.tensor();
        if (kn.rows() != ctxStart[seqs] || kRope.rows() != ctxStart[seqs] || vt.rows() != ctxStart[seqs]) {
            throw new IllegalArgumentException("mlaPrefillAttention: " + kn.rows() + "/" + kRope.rows() + "/" + vt.rows() + " key/rope/value rows for "
                    + ctxStart[seqs] + " context rows");
        }
        Parallel.forRange(batch.numTokens() * heads, 1, (from, to) -> {
            for (int item = from; item < to; item++) {
                int t = item / heads, h = item % heads;
                ForwardBatch.Seq s = batch.seqs().get(seqOf[t]);
                int visible = s.cachedTokens() + (t - s.tokenStart()) + 1, c0 = ctxStart[seqOf[t]];
                float[] scores = scratch(SCORES, visible);
                int qnOff = qn.at(t, qNope.column(h)), qrOff = qr.at(t, qRope.column(h));
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < visible; j++) {
                    float dot = Elementwise.dot(qn.data(), qnOff, kn.data(), kn.at(c0 + j, kNope.column(h)), nope)
                            + Elementwise.dot(qr.data(), qrOff, kRope.data(), kRope.at(c0 + j, 0), rope);
                    max = Math.max(max, scores[j] = scale * dot);
                }
                float sum = 0;
                for (int j = 0; j < visible; j++) sum += scores[j] = (float) Math.exp(scores[j] - max);
                float[] acc = scratch(ACC, vDim);
                java.util.Arrays.fill(acc, 0, vDim, 0f);
                for (int j = 0; j < visible; j++) {
                    float p = scores[j] / sum;
                    int vo = vt.at(c0 + j, v.column(h));
                    for (int d = 0; d < vDim; d++) acc[d] = Math.fma(vt.data()[vo + d], p, acc[d]);
                }
                System.arraycopy(acc, 0, o.data(), o.at(t, out.column(h)), vDim);
            }
        });
    }

    /** Grouped-query attention: entry = [K (kvHeads x dim) | V (kvHeads x dim)]. */
    static void gqa(CpuKvCache cache, int layer, ForwardBatch batch, Heads q, int kvHeads, float scale, Heads out) {
        MemorySegment m = cache.layers[layer];
        int heads = q.count(), dim = q.width(), group = heads / kvHeads;
        int[] seqOf = tokenSeq(batch);
        CpuTensor qt = (CpuTensor) q.tensor(), o = (CpuTensor) out.tensor();
        Parallel.forRange(batch.numTokens() * heads, 1, (from, to) -> {
            for (int item = from; item < to; item++) {
                int t = item / heads, h = item % heads, kvh = h / group;
                ForwardBatch.Seq s = batch.seqs().get(seqOf[t]);
                int visible = s.cachedTokens() + (t - s.tokenStart()) + 1;
                float[] scores = scratch(SCORES, visible);
                int qOff = qt.at(t, q.column(h));
                long kAt = (long) kvh * dim * 4, vAt = ((long) kvHeads * dim + (long) kvh * dim) * 4;
                for (int j = 0; j < visible; j++) {
                    scores[j] = scale * dot(qt.data(), qOff, m, cache.offset(s.slots()[j]) + kAt, dim);
                }
                float[] acc = scratch(ACC, dim);
                softmaxWeightedSum(scores, visible, m, s.slots(), cache, vAt, dim, acc);
                System.arraycopy(acc, 0, o.data(), o.at(t, out.column(h)), dim);
            }
        });
    }

    private static float[] scratch(ThreadLocal<float[]> tl, int n) {
        float[] a = tl.get();
        if (a.length < n) tl.set(a = new float[Math.max(n, a.length * 2)]);
        return a;
    }

    /**
     * L e4m3 codes at {@code off} as floats, exactly: a normal code's 7 value bits moved into float's layout with its
     * exponent rebased by 120 in integer arithmetic (no float subnormal is formed, which would cost a microcode assist
     * per vector on some CPUs), and the codes of exponent 0 (zero and the subnormals, m x 2^-9) converted from their
     * mantissa; the sign bit comes from the sign-extended byte.
     */
    private static FloatVector e4m3(MemorySegment m, long off) {
        IntVector v = (IntVector) ByteVector.fromMemorySegment(B, m, off, LE).convertShape(VectorOperators.B2I, I, 0);
        IntVector magnitude = v.and(0x7F), sign = v.and(0x80000000);
        FloatVector normal = magnitude.lanewise(VectorOperators.LSHL, 20).add(120 << 23).or(sign).reinterpretAsFloats();
        FloatVector small = ((FloatVector) magnitude.convert(VectorOperators.I2F, 0)).mul(0x1p-9f).reinterpretAsInts().or(sign).reinterpretAsFloats();
        return normal.blend(small, magnitude.compare(VectorOperators.LT, 8).cast(F));
    }

    /** q . entry values [off, off + n bytes) of an FP8 or a float cache. */
    private static float dot(CpuKvCache cache, float[] q, int qOff, MemorySegment m, long off, int n) {
        if (!cache.fp8) return dot(q, qOff, m, off, n);
        FloatVector acc = FloatVector.zero(F);
        int vn = n / L * L;
        for (int k = 0; k < vn; k += L) acc = FloatVector.fromArray(F, q, qOff + k).fma(e4m3(m, off + k), acc);
        float tail = 0;
        for (int k = vn; k < n; k++) tail = Math.fma(q[qOff + k], E4M3[m.get(ValueLayout.JAVA_BYTE, off + k) & 0xFF], tail);
        return Linear.sum(acc) + tail;
    }

    private static float dot(float[] q, int qOff, MemorySegment m, long off, int n) {
        FloatVector acc = FloatVector.zero(F);
        int vn = n / L * L;
        for (int k = 0; k < vn; k += L) {
            acc = FloatVector.fromArray(F, q, qOff + k).fma(FloatVector.fromMemorySegment(F, m, off + 4L * k, LE), acc);
        }
        float tail = 0;
        for (int k = vn; k < n; k++) tail = Math.fma(q[qOff + k], m.get(FLOAT, off + 4L * k), tail);
        return Linear.sum(acc) + tail;
    }

    /** acc = sum_j softmax(scores)_j * value_j, value_j = entry floats [at, at + n) of slot j. */
    private static void softmaxWeightedSum(float[] scores, int count, MemorySegment m, int[] slots, CpuKvCache cache,
                                           long atBytes, int n, float[] acc) {
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < count; j++) max = Math.max(max, scores[j]);
        float sum = 0;
        for (int j = 0; j < count; j++) {
            float p = (float) Math.exp(scores[j] - max);
            scores[j] = p;
            sum += p;
        }
        float inv = 1f / sum;
        java.util.Arrays.fill(acc, 0, n, 0f);
        int vn = n / L * L;
        for (int j = 0; j < count; j++) {
            float p = scores[j] * inv;
            long off = cache.offset(slots[j]) + atBytes;
            FloatVector pv = FloatVector.broadcast(F, p);
            if (cache.fp8) {
                for (int k = 0; k < vn; k += L) e4m3(m, off + k).fma(pv, FloatVector.fromArray(F, acc, k)).intoArray(acc, k);
                for (int k = vn; k < n; k++) acc[k] = Math.fma(E4M3[m.get(ValueLayout.JAVA_BYTE, off + k) & 0xFF], p, acc[k]);
                continue;
            }
            for (int k = 0; k < vn; k += L) {
                FloatVector.fromMemorySegment(F, m, off + 4L * k, LE).fma(pv, FloatVector.fromArray(F, acc, k)).intoArray(acc, k);
            }
            for (int k = vn; k < n; k++) acc[k] = Math.fma(m.get(FLOAT, off + 4L * k), p, acc[k]);
        }
    }
}
