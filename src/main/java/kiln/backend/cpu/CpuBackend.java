package kiln.backend.cpu;

import kiln.backend.Backend;
import kiln.backend.ForwardBatch;
import kiln.backend.Heads;
import kiln.backend.LogitConstraints;
import kiln.backend.KvCache;
import kiln.backend.KvLayout;
import kiln.backend.MlaQuery;
import kiln.backend.MoeRouting;
import kiln.backend.Rope;
import kiln.backend.Tensor;
import kiln.backend.Weight;
import kiln.io.DType;
import kiln.io.Fp8;
import kiln.io.TensorData;

import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.util.List;

/** The CPU backend: Vector API kernels over all cores, weights read in place from mapped checkpoints. */
public final class CpuBackend implements Backend {
    private final boolean mhaPrefill, fp8KvCache;
    /** The tensor-parallel group this backend is rank {@code rank} of; null when it is alone. */
    private final CpuRanks group;
    private final int rank;
    private ForwardBatch batch;

    public CpuBackend() {
        this(false);
    }

    /**
     * {@code mhaPrefill}: run DeepSeek MLA prefill in the MHA form (as the GPU does) instead of the absorbed form;
     * for tests of that path. Off by default: with it, prefill and decode take different code paths and a token's
     * logits are no longer bitwise the same whichever way it was computed.
     */
    public CpuBackend(boolean mhaPrefill) {
        this(mhaPrefill, false);
    }

    /** {@code fp8KvCache}: MLA's latent cache stored as e4m3 bytes ({@code --kv-cache-dtype fp8_e4m3}), a quarter of float's. */
    public CpuBackend(boolean mhaPrefill, boolean fp8KvCache) {
        this(mhaPrefill, fp8KvCache, null, 0);
    }

    CpuBackend(boolean mhaPrefill, boolean fp8KvCache, CpuRanks group, int rank) {
        this.mhaPrefill = mhaPrefill;
        this.fp8KvCache = fp8KvCache;
        this.group = group;
        this.rank = rank;
    }

    /**
     * {@code size} tensor-parallel ranks in this process, each a backend set up like this one. They share the cores
     * ({@link Parallel} runs one rank's op at a time) and the memory.
     */
    public CpuRanks ranks(int size) {
        return new CpuRanks(size, mhaPrefill, fp8KvCache);
    }

    @Override
    public String name() {
        return "cpu (" + Parallel.THREADS + " threads, " + Linear.F.vectorBitSize() + "-bit vectors"
                + (tpSize() > 1 ? ", tp rank " + rank + " of " + tpSize() : "") + ")";
    }

    @Override
    public int tpRank() {
        return rank;
    }

    @Override
    public int tpSize() {
        return group == null ? 1 : group.size();
    }

    @Override
    public void allReduceSum(Tensor t) {
        if (tpSize() > 1) group.allReduceSum(rank, (CpuTensor) t);
    }

    @Override
    public void allGatherColumns(Tensor part, Tensor out) {
        if (tpSize() > 1) {
            group.allGatherColumns(rank, (CpuTensor) part, (CpuTensor) out);
        } else if (!part.equals(out)) {
            CpuTensor p = (CpuTensor) part, o = (CpuTensor) out;
            if (p.rows() != o.rows() || p.cols() != o.cols()) {
                throw new IllegalArgumentException("allGatherColumns: part [" + p.rows() + ", " + p.cols() + "] for out [" + o.rows() + ", " + o.cols() + "]");
            }
            for (int r = 0; r < p.rows(); r++) System.arraycopy(p.data(), p.at(r, 0), o.data(), o.at(r, 0), p.cols());
        }
    }

    @Override
    public Weight weight(TensorData data, TensorData scaleInv, int blockRows, int blockCols) {
        if (data.shape().length != 2) {
            throw new IllegalArgumentException(data.describe() + ": expected a 2-D weight");
        }
        int rows = data.dim(0), cols = data.dim(1);
        return switch (data.dtype()) {
            case F32, BF16 -> new CpuWeight(data.dtype(), rows, cols, data.data(), null, 0, 0, 0);
            // fp16 checkpoints are not among Kiln's targets; widen rather than carry a third kernel.
            case F16 -> weight(data.toFloatArray(), rows, cols);
            case F8_E4M3 -> {
                if (scaleInv == null) throw new IllegalArgumentException(data.describe() + ": FP8 weight without weight_scale_inv");
                int sr = ceilDiv(rows, blockRows), sc = ceilDiv(cols, blockCols);
                if (scaleInv.numel() != (long) sr * sc) {
                    throw new IllegalArgumentException(scaleInv.describe() + ": expected [" + sr + ", " + sc
                            + "] block scales for " + data.describe());
                }
                float[] scales = scaleInv.toFloatArray();
                for (int i = 0; i < scales.length; i++) scales[i] *= Fp8.EXPONENT_FIX;
                yield new CpuWeight(DType.F8_E4M3, rows, cols, data.data(), scales, blockRows, blockCols, sc);
            }
            default -> throw new IllegalArgumentException(data.describe() + ": unsupported weight dtype");
        };
    }

    @Override
    public Weight weight(float[] values, int rows, int cols) {
        if (values.length != rows * cols) throw new IllegalArgumentException(values.length + " values for " + rows + "x" + cols);
        return new CpuWeight(DType.F32, rows, cols, MemorySegment.ofArray(values), null, 0, 0, 0);
    }

    @Override
    public Experts experts(List<Weight> gate, List<Weight> up, List<Weight> down) {
        return new CpuMoe.CpuExperts(gate.toArray(CpuWeight[]::new), up.toArray(CpuWeight[]::new), down.toArray(CpuWeight[]::new));
    }

    @Override
    public KvCache kvCache(KvLayout layout, int slots) {
        if (fp8KvCache) layout.checkFp8();
        return new CpuKvCache(layout, slots, fp8KvCache);
    }

    @Override
    public DType kvCacheDtype() {
        return fp8KvCache ? DType.F8_E4M3 : DType.F32;
    }

    @Override
    public long freeMemoryBytes() {
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        return os.getFreeMemorySize();
    }

    /** The ranks of a group share the host's memory, so each gets its part of the fraction. */
    @Override
    public long kvMemoryBudget(double memFractionStatic) {
        return (long) (memFractionStatic * freeMemoryBytes()) / tpSize();
    }

    /** A CPU serves few tokens per second; a fifth of free memory holds far more KV than it can use. */
    @Override
    public double defaultMemFractionStatic() {
        return 0.2;
    }

    @Override
    public void begin(ForwardBatch batch) {
        this.batch = batch.resolved();
    }

    ForwardBatch batch() {
        if (batch == null) throw new IllegalStateException("no forward in progress (call begin first)");
        return batch;
    }

    @Override
    public Tensor tensor(int rows, int cols) {
        return CpuTensor.allocate(rows, cols);
    }

    @Override
    public Tensor gatherRows(Tensor x, int[] rows) {
        CpuTensor src = (CpuTensor) x;
        CpuTensor out = CpuTensor.allocate(rows.length, src.cols());
        for (int i = 0; i < rows.length; i++) System.arraycopy(src.data(), src.at(rows[i], 0), out.data(), out.at(i, 0), src.cols());
        return out;
    }

    @Override
    public Tensor upload(float[] values, int rows, int cols) {
        if (values.length != (long) rows * cols) throw new IllegalArgumentException(values.length + " values for " + rows + "x" + cols);
        return new CpuTensor(values.clone(), 0, rows, cols, cols);
    }

    @Override
    public Tensor constrain(Tensor logits, LogitConstraints c) {
        CpuTensor t = (CpuTensor) logits;
        c.applyTo(t.data(), t.offset(), t.stride(), t.rows(), t.cols());
        return logits;
    }

    @Override
    public float[] download(Tensor t) {
        CpuTensor c = (CpuTensor) t;
        if (c.contiguous() && c.offset() == 0 && c.data().length == c.rows() * c.cols()) return c.data().clone();
        float[] out = new float[c.rows() * c.cols()];
        for (int r = 0; r < c.rows(); r++) System.arraycopy(c.data(), c.at(r, 0), out, r * c.cols(), c.cols());
        return out;
    }

    @Override
    public void embed(Weight table, Tensor out) {
        CpuWeight w = (CpuWeight) table;
        CpuTensor o = (CpuTensor) out;
        int[] tokens = batch().tokens();
        for (int t = 0; t < tokens.length; t++) {
            if (tokens[t] < 0 || tokens[t] >= w.rows()) {
                throw new IllegalArgumentException("token id " + tokens[t] + " outside the vocabulary [0, " + w.rows() + ")");
            }
            if (o.contiguous()) {
                Linear.widenRow(w, tokens[t], o.data(), o.at(t, 0));
            } else {
                float[] row = new float[w.cols()];
                Linear.widenRow(w, tokens[t], row, 0);
                System.arraycopy(row, 0, o.data(), o.at(t, 0), row.length);
            }
        }
    }

    @Override
    public void rmsNorm(Tensor x, Weight w, float eps, Tensor out) {
        Elementwise.rmsNorm((CpuTensor) x, weightValues(w), eps, (CpuTensor) out);
    }

    @Override
    public void add(Tensor acc, Tensor x) {
        Elementwise.add((CpuTensor) acc, (CpuTensor) x);
    }

    @Override
    public void linear(Tensor x, Weight w, Weight bias, Tensor out) {
        Linear.forward((CpuTensor) x, (CpuWeight) w, bias == null ? null : weightValues(bias), (CpuTensor) out, true);
    }

    @Override
    public void headLinear(Heads x, Weight w, Heads out) {
        CpuWeight cw = (CpuWeight) w;
        CpuTensor xt = (CpuTensor) x.tensor(), ot = (CpuTensor) out.tensor();
        int outWidth = out.width(), inWidth = x.width();
        if (cw.rows() != x.count() * outWidth || cw.cols() != inWidth) {
            throw new IllegalArgumentException("headLinear: weight " + cw.rows() + "x" + cw.cols() + " for "
                    + x.count() + " heads " + inWidth + " -> " + outWidth);
        }
        float[] wf = weightValues(w);
        Parallel.forRange(xt.rows() * x.count(), 1, (from, to) -> {
            for (int item = from; item < to; item++) {
                int t = item / x.count(), h = item % x.count();
                int xo = xt.at(t, x.column(h)), oo = ot.at(t, out.column(h));
                for (int r = 0; r < outWidth; r++) {
                    ot.data()[oo + r] = Elementwise.dot(xt.data(), xo, wf, (h * outWidth + r) * inWidth, inWidth);
                }
            }
        });
    }

    @Override
    public void rope(Heads x, Rope rope) {
        Elementwise.rope(x, batch().positions(), rope);
    }

    @Override
    public void siluMul(Tensor gate, Tensor up, Tensor out) {
        Elementwise.siluMul((CpuTensor) gate, (CpuTensor) up, (CpuTensor) out);
    }

    @Override
    public void mlaAttention(MlaQuery q, Heads out) {
        CpuKvCache c = (CpuKvCache) q.cache();
        Attention.store(c, q.layer(), batch(), (CpuTensor) q.latent(), 0);
        Attention.store(c, q.layer(), batch(), (CpuTensor) q.keyRope(), q.latent().cols());
        Attention.mla(c, q.layer(), batch(), q.qLatent(), q.qRope(), q.scale(), out);
    }

    @Override
    public boolean mlaPrefillMha(int heads, int nope, int rope, int vDim) {
        return mhaPrefill;
    }

    @Override
    public void mlaStoreGather(KvCache cache, int layer, Tensor latent, Tensor keyRope, Tensor out) {
        CpuKvCache c = (CpuKvCache) cache;
        KvLayout.Mla l = (KvLayout.Mla) c.layout();
        if (latent.cols() != l.latentDim() || keyRope.cols() != l.ropeDim() || out.cols() != l.valuesPerToken()) {
            throw new IllegalArgumentException("mlaStoreGather: widths " + latent.cols() + "/" + keyRope.cols() + " -> " + out.cols() + " for " + l);
        }
        Attention.store(c, layer, batch(), (CpuTensor) latent, 0);
        Attention.store(c, layer, batch(), (CpuTensor) keyRope, latent.cols());
        Attention.gatherContext(c, layer, batch(), (CpuTensor) out);
    }

    @Override
    public void mlaPrefillAttention(Heads qNope, Heads qRope, Heads kNope, Tensor kRope, Heads v, float scale, Heads out) {
        Attention.mhaPrefill(batch(), qNope, qRope, kNope, (CpuTensor) kRope, v, scale, out);
    }

    @Override
    public void attention(KvCache cache, int layer, Heads q, Heads k, Heads v, float scale, Heads out) {
        CpuKvCache c = (CpuKvCache) cache;
        KvLayout.Gqa g = (KvLayout.Gqa) c.layout();
        Attention.store(c, layer, batch(), (CpuTensor) k.tensor().columns(k.column(0), g.kvHeads() * g.headDim()), 0);
        Attention.store(c, layer, batch(), (CpuTensor) v.tensor().columns(v.column(0), g.kvHeads() * g.headDim()), g.kvHeads() * g.headDim());
        Attention.gqa(c, layer, batch(), q, g.kvHeads(), scale, out);
    }

    @Override
    public Routing route(Tensor routerLogits, Weight scoreBias, MoeRouting routing) {
        return CpuMoe.route((CpuTensor) routerLogits, scoreBias == null ? null : weightValues(scoreBias), routing);
    }

    @Override
    public void moe(Tensor x, Routing routing, Experts experts, Tensor out) {
        CpuMoe.run((CpuTensor) x, (CpuMoe.CpuRouting) routing, (CpuMoe.CpuExperts) experts, (CpuTensor) out);
    }

    /** A small weight (norm, bias, derived matrix) as floats; only f32 weights made by {@link #weight(float[], int, int)}. */
    static float[] weightValues(Weight w) {
        if (((CpuWeight) w).data().heapBase().orElse(null) instanceof float[] values) return values;
        throw new IllegalArgumentException("expected a float weight made at load time, got " + w.dtype());
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    @Override
    public void close() {}
}
