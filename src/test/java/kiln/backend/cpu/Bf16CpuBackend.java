package kiln.backend.cpu;

import kiln.backend.Backend;
import kiln.backend.ForwardBatch;
import kiln.backend.Heads;
import kiln.backend.KvCache;
import kiln.backend.KvLayout;
import kiln.backend.MlaQuery;
import kiln.backend.MoeRouting;
import kiln.backend.Rope;
import kiln.backend.Tensor;
import kiln.backend.Weight;
import kiln.io.DType;
import kiln.io.TensorData;

import java.util.List;

/**
 * The CPU backend with the CUDA backend's bf16 storage simulated: every op's output is rounded to bf16 as the GPU
 * stores it, load-time matrices (MLA's absorbed projections) are kept in bf16, and optionally the activations of
 * FP8 linear layers are quantised to e4m3 in 1x128 blocks as the cuBLASLt block-scaled path does (for more than
 * 8 rows, N and K multiples of 128), and optionally MLA's cache entries rounded to e4m3 as an FP8 latent cache
 * ({@code --kv-cache-dtype fp8_e4m3}) stores them. Arithmetic stays float, so the difference to the plain CPU backend is the
 * rounding a correct bf16 GPU run must show: the reference that tells a GPU bug from bf16 noise.
 */
public final class Bf16CpuBackend implements Backend {
    private final CpuBackend cpu;
    private final boolean fp8Activations, fp8KvCache;

    public Bf16CpuBackend(boolean fp8Activations) {
        this(fp8Activations, false);
    }

    /** {@code mhaPrefill}: MLA prefill in the MHA form, as the GPU runs it in bf16 (so traces line up op by op). */
    public Bf16CpuBackend(boolean fp8Activations, boolean mhaPrefill) {
        this(fp8Activations, mhaPrefill, false);
    }

    /** {@code fp8KvCache}: MLA's entries stored as e4m3 values (the GPU's FP8 latent cache). */
    public Bf16CpuBackend(boolean fp8Activations, boolean mhaPrefill, boolean fp8KvCache) {
        this.fp8Activations = fp8Activations;
        this.fp8KvCache = fp8KvCache;
        this.cpu = new CpuBackend(mhaPrefill);
    }

    /** An MLA cache entry part as the cache stores it: itself, or a copy rounded to e4m3 for an FP8 cache. */
    private Tensor cached(Tensor t) {
        if (!fp8KvCache) return t;
        CpuTensor c = (CpuTensor) t, q = CpuTensor.allocate(c.rows(), c.cols());
        for (int r = 0; r < c.rows(); r++) {
            for (int k = 0; k < c.cols(); k++) q.data()[q.at(r, k)] = e4m3(c.data()[c.at(r, k)]);
        }
        return q;
    }

    static float bf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) return f;
        return Float.intBitsToFloat(((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) << 16);
    }

    private static void round(Tensor t) {
        CpuTensor c = (CpuTensor) t;
        for (int r = 0; r < c.rows(); r++) {
            int o = c.at(r, 0);
            for (int k = 0; k < c.cols(); k++) c.data()[o + k] = bf16(c.data()[o + k]);
        }
    }

    /** Round to nearest even e4m3 (saturating at 448), the hardware conversion the quantiser uses. */
    static float e4m3(float v) {
        float a = Math.min(Math.abs(v), 448f);
        if (a == 0) return 0f;
        int e = Math.max(Math.getExponent(a), -6);  // below 2^-6 the spacing is fixed (subnormals)
        float step = Math.scalb(1f, e - 3);
        float q = (float) Math.rint(a / step) * step;
        return Math.copySign(Math.min(q, 448f), v);
    }

    private static CpuTensor quantiseFp8(CpuTensor x) {
        int rows = x.rows(), cols = x.cols();
        CpuTensor q = CpuTensor.allocate(rows, cols);
        for (int r = 0; r < rows; r++) {
            for (int c0 = 0; c0 < cols; c0 += 128) {
                int c1 = Math.min(cols, c0 + 128);
                float amax = 0;
                for (int c = c0; c < c1; c++) amax = Math.max(amax, Math.abs(x.data()[x.at(r, c)]));
                float s = Math.max(amax, 1e-12f) / 448f, inv = 1f / s;
                for (int c = c0; c < c1; c++) q.data()[q.at(r, c)] = e4m3(x.data()[x.at(r, c)] * inv) * s;
            }
        }
        return q;
    }

    @Override
    public String name() {
        return "cpu with bf16 storage simulated" + (fp8Activations ? " and fp8 activations of fp8 GEMMs" : "") + (fp8KvCache ? " and an fp8 MLA cache" : "");
    }

    @Override
    public Weight weight(TensorData data, TensorData scaleInv, int blockRows, int blockCols) {
        return cpu.weight(data, scaleInv, blockRows, blockCols);
    }

    @Override
    public Weight weight(float[] values, int rows, int cols) {
        float[] b = values.clone();
        for (int i = 0; i < b.length; i++) b[i] = bf16(b[i]);
        return cpu.weight(b, rows, cols);
    }

    @Override
    public Weight vector(float[] values) {
        return cpu.weight(values.clone(), 1, values.length);
    }

    @Override
    public Experts experts(List<Weight> gate, List<Weight> up, List<Weight> down) {
        return cpu.experts(gate, up, down);
    }

    @Override
    public KvCache kvCache(KvLayout layout, int slots) {
        return cpu.kvCache(layout, slots);
    }

    @Override
    public long freeMemoryBytes() {
        return cpu.freeMemoryBytes();
    }

    @Override
    public long kvMemoryBudget(double memFractionStatic) {
        return cpu.kvMemoryBudget(memFractionStatic);
    }

    @Override
    public double defaultMemFractionStatic() {
        return cpu.defaultMemFractionStatic();
    }

    @Override
    public void begin(ForwardBatch batch) {
        cpu.begin(batch);
    }

    @Override
    public Tensor tensor(int rows, int cols) {
        return cpu.tensor(rows, cols);
    }

    @Override
    public Tensor gatherRows(Tensor x, int[] rows) {
        return cpu.gatherRows(x, rows);
    }

    @Override
    public float[] download(Tensor t) {
        return cpu.download(t);
    }

    @Override
    public Tensor upload(float[] values, int rows, int cols) {
        Tensor t = cpu.upload(values, rows, cols);
        round(t);
        return t;
    }

    @Override
    public void embed(Weight table, Tensor out) {
        cpu.embed(table, out);
        round(out);
    }

    @Override
    public void rmsNorm(Tensor x, Weight w, float eps, Tensor out) {
        cpu.rmsNorm(x, w, eps, out);
        round(out);
    }

    @Override
    public void addRmsNorm(Tensor x, Tensor delta, Weight w, float eps, Tensor out) {
        cpu.add(x, delta);
        round(x);
        cpu.rmsNorm(x, w, eps, out);
        round(out);
    }

    @Override
    public void add(Tensor acc, Tensor x) {
        cpu.add(acc, x);
        round(acc);
    }

    @Override
    public void linear(Tensor x, Weight w, Weight bias, Tensor out) {
        CpuTensor in = (CpuTensor) x;
        if (fp8Activations && w.dtype() == DType.F8_E4M3 && x.rows() > 8 && w.rows() % 128 == 0 && w.cols() % 128 == 0) in = quantiseFp8(in);
        cpu.linear(in, w, bias, out);
        round(out);
    }

    @Override
    public void headLinear(Heads x, Weight w, Heads out) {
        cpu.headLinear(x, w, out);
        round(out.tensor());
    }

    @Override
    public void rope(Heads x, Rope rope) {
        cpu.rope(x, rope);
        round(x.tensor());
    }

    @Override
    public void siluMul(Tensor gate, Tensor up, Tensor out) {
        cpu.siluMul(gate, up, out);
        round(out);
    }

    @Override
    public void mlaAttention(MlaQuery q, Heads out) {
        cpu.mlaAttention(new MlaQuery(q.cache(), q.layer(), q.qLatent(), q.qRope(), cached(q.latent()), cached(q.keyRope()), q.scale()), out);
        round(out.tensor());
    }

    @Override
    public boolean mlaPrefillMha(int heads, int nope, int rope, int vDim) {
        return cpu.mlaPrefillMha(heads, nope, rope, vDim);
    }

    @Override
    public void mlaStoreGather(KvCache cache, int layer, Tensor latent, Tensor keyRope, Tensor out) {
        cpu.mlaStoreGather(cache, layer, cached(latent), cached(keyRope), out);
        round(out);
    }

    @Override
    public void mlaPrefillAttention(Heads qNope, Heads qRope, Heads kNope, Tensor kRope, Heads v, float scale, Heads out) {
        cpu.mlaPrefillAttention(qNope, qRope, kNope, kRope, v, scale, out);
        round(out.tensor());
    }

    @Override
    public void attention(KvCache cache, int layer, Heads q, Heads k, Heads v, float scale, Heads out) {
        cpu.attention(cache, layer, q, k, v, scale, out);
        round(out.tensor());
    }

    /** The smallest router choice margin since the last {@link #takeRouterMargin} (CpuMoe.choiceMargin). */
    private float routerMargin = Float.POSITIVE_INFINITY;

    public float takeRouterMargin() {
        float m = routerMargin;
        routerMargin = Float.POSITIVE_INFINITY;
        return m;
    }

    @Override
    public Routing route(Tensor routerLogits, Weight scoreBias, MoeRouting routing) {
        float[] bias = scoreBias == null ? null : CpuBackend.weightValues(scoreBias);
        routerMargin = Math.min(routerMargin, CpuMoe.choiceMargin((CpuTensor) routerLogits, bias, routing));
        return cpu.route(routerLogits, scoreBias, routing);
    }

    @Override
    public void moe(Tensor x, Routing routing, Experts experts, Tensor out) {
        cpu.moe(x, routing, experts, out);
        round(out);
    }

    @Override
    public void close() {
        cpu.close();
    }
}
