package kiln.backend;

import kiln.io.TensorData;

import java.util.ArrayList;
import java.util.List;

/**
 * A backend decorator that downloads the output of every op of a forward, so two runs of one model (say the CPU
 * in float32 and the GPU in bf16) can be compared op by op and the first op that goes wrong named
 * ({@link #compare}). Ops are labelled with the decoder layer they belong to: the layer count follows the
 * hidden-width norms the decoder runs (two per layer, then the final one). For small models only: every output
 * crosses the bus.
 *
 * <p>It also records the shape of every {@link #download} its callers make (whether tracing is on or off; its own
 * recording downloads from the inner backend and is not counted), so a test can tell whether the engine brought
 * a step's logits to the host.
 */
public final class TracingBackend implements Backend {
    /** One op's output: its position in the forward, layer (-1 before the first, L after the last), name and values. */
    public record Entry(int index, int layer, String op, String shape, float[] values) {}

    private final Backend inner;
    private final List<Entry> entries = new ArrayList<>();
    private final List<String> downloads = new ArrayList<>();
    private int hidden = -1, hiddenNorms, layers = Integer.MAX_VALUE;
    private boolean on = true;

    public TracingBackend(Backend inner) {
        this.inner = inner;
    }

    public Backend inner() {
        return inner;
    }

    /** Tracing is on from the start; off, the decorator only forwards. */
    public void tracing(boolean on) {
        this.on = on;
    }

    public List<Entry> entries() {
        return entries;
    }

    public void clear() {
        entries.clear();
    }

    /** "rows x cols" of each download made through this decorator, oldest first (a copy; safe from any thread). */
    public synchronized List<String> downloads() {
        return List.copyOf(downloads);
    }

    public synchronized void clearDownloads() {
        downloads.clear();
    }

    private void record(String op, Tensor t) {
        if (!on) return;
        entries.add(new Entry(entries.size(), layer(), op, t.rows() + "x" + t.cols(), inner.download(t)));
    }

    private int layer() {
        return hiddenNorms == 0 ? -1 : Math.min((hiddenNorms - 1) / 2, layers);
    }

    private void norm(Tensor x) {
        if (x.cols() == hidden) hiddenNorms++;
    }

    // ---- the forward's ops: forwarded, then recorded ----

    @Override
    public void begin(ForwardBatch batch) {
        hiddenNorms = 0;
        inner.begin(batch);
    }

    @Override
    public void embed(Weight table, Tensor out) {
        hidden = out.cols();
        inner.embed(table, out);
        record("embed", out);
    }

    @Override
    public void rmsNorm(Tensor x, Weight w, float eps, Tensor out) {
        norm(x);
        inner.rmsNorm(x, w, eps, out);
        record("rmsnorm", out);
    }

    @Override
    public void addRmsNorm(Tensor x, Tensor delta, Weight w, float eps, Tensor out) {
        norm(x);
        inner.addRmsNorm(x, delta, w, eps, out);
        record("add_rmsnorm (residual)", x);
        record("add_rmsnorm", out);
    }

    @Override
    public void add(Tensor acc, Tensor x) {
        inner.add(acc, x);
        record("add", acc);
    }

    @Override
    public void linear(Tensor x, Weight w, Weight bias, Tensor out) {
        inner.linear(x, w, bias, out);
        record("linear " + w.rows() + "x" + w.cols() + " " + w.dtype(), out);
    }

    @Override
    public void headLinear(Heads x, Weight w, Heads out) {
        inner.headLinear(x, w, out);
        record("head_linear " + x.count() + "x" + x.width() + "->" + out.width(), out.tensor());
    }

    @Override
    public void rope(Heads x, Rope rope) {
        inner.rope(x, rope);
        record("rope " + x.count() + " heads", x.tensor());
    }

    @Override
    public void siluMul(Tensor gate, Tensor up, Tensor out) {
        inner.siluMul(gate, up, out);
        record("silu_mul", out);
    }

    @Override
    public void siluGateUp(Tensor x, Weight gate, Weight up, Tensor out) {
        inner.siluGateUp(x, gate, up, out);
        record("silu_gate_up " + gate.rows() + "x" + gate.cols() + " " + gate.dtype(), out);
    }

    @Override
    public void mlaAttention(MlaQuery q, Heads out) {
        inner.mlaAttention(q, out);
        record("mla_attention", out.tensor());
    }

    @Override
    public boolean mlaPrefillMha(int heads, int nope, int rope, int vDim) {
        return inner.mlaPrefillMha(heads, nope, rope, vDim);
    }

    @Override
    public void mlaStoreGather(KvCache cache, int layer, Tensor latent, Tensor keyRope, Tensor out) {
        inner.mlaStoreGather(cache, layer, latent, keyRope, out);
        record("mla_store_gather", out);
    }

    @Override
    public void mlaPrefillAttention(Heads qNope, Heads qRope, Heads kNope, Tensor kRope, Heads v, float scale, Heads out) {
        inner.mlaPrefillAttention(qNope, qRope, kNope, kRope, v, scale, out);
        record("mla_prefill_attention", out.tensor());
    }

    @Override
    public void attention(KvCache cache, int layer, Heads q, Heads k, Heads v, float scale, Heads out) {
        inner.attention(cache, layer, q, k, v, scale, out);
        record("attention", out.tensor());
    }

    @Override
    public Routing route(Tensor routerLogits, Weight scoreBias, MoeRouting routing) {
        Routing r = inner.route(routerLogits, scoreBias, routing);
        if (on) {
            int[] ids = r.expertIds();
            float[] v = new float[ids.length];
            for (int i = 0; i < ids.length; i++) v[i] = ids[i];
            entries.add(new Entry(entries.size(), layer(), "moe_route (expert ids)", routerLogits.rows() + "x" + r.topK(), v));
        }
        return r;
    }

    @Override
    public void moe(Tensor x, Routing routing, Experts experts, Tensor out) {
        inner.moe(x, routing, experts, out);
        record("moe", out);
    }

    @Override
    public Tensor gatherRows(Tensor x, int[] rows) {
        layers = layer() + 1;
        Tensor t = inner.gatherRows(x, rows);
        record("gather_rows", t);
        return t;
    }

    // ---- forwarded unchanged ----

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public Weight weight(TensorData data, TensorData scaleInv, int blockRows, int blockCols) {
        return inner.weight(data, scaleInv, blockRows, blockCols);
    }

    @Override
    public Weight weight(float[] values, int rows, int cols) {
        return inner.weight(values, rows, cols);
    }

    @Override
    public Weight vector(float[] values) {
        return inner.vector(values);
    }

    @Override
    public Experts experts(List<Weight> gate, List<Weight> up, List<Weight> down) {
        return inner.experts(gate, up, down);
    }

    @Override
    public KvCache kvCache(KvLayout layout, int slots) {
        return inner.kvCache(layout, slots);
    }

    @Override
    public long freeMemoryBytes() {
        return inner.freeMemoryBytes();
    }

    @Override
    public long kvMemoryBudget(double memFractionStatic) {
        return inner.kvMemoryBudget(memFractionStatic);
    }

    @Override
    public double defaultMemFractionStatic() {
        return inner.defaultMemFractionStatic();
    }

    @Override
    public long kvBytesPerToken(KvLayout layout) {
        return inner.kvBytesPerToken(layout);
    }

    @Override
    public Tensor tensor(int rows, int cols) {
        return inner.tensor(rows, cols);
    }

    @Override
    public float[] download(Tensor t) {
        synchronized (this) {
            downloads.add(t.rows() + "x" + t.cols());
        }
        return inner.download(t);
    }

    @Override
    public Tensor upload(float[] values, int rows, int cols) {
        return inner.upload(values, rows, cols);
    }

    @Override
    public long mark() {
        return inner.mark();
    }

    @Override
    public void release(long mark) {
        inner.release(mark);
    }

    @Override
    public int[] sample(Tensor logits, float[] temperature, int[] topK, float[] topP, float[] uniform) {
        return inner.sample(logits, temperature, topK, topP, uniform);
    }

    @Override
    public int[] argmax(Tensor logits) {
        return inner.argmax(logits);
    }

    @Override
    public void close() {
        inner.close();
    }

    // ---- comparing two traces ----

    /** One op of two traces side by side: max |a - b| / max |ref| and ||a - b|| / ||ref||. */
    public record Diff(Entry ref, double maxRel, double normRel, String note) {}

    /**
     * Op-by-op differences of {@code got} against {@code ref} (same model, same batch). Expert ids are compared as
     * the fraction that differ. Throws when the two traces are not the same sequence of ops.
     */
    /** A load-time matrix is F32 on the CPU and BF16 on a bf16 GPU: the same op either way. */
    private static String withoutFloatType(String op) {
        return op.replaceFirst(" (F32|BF16|F16)$", "");
    }

    public static List<Diff> compare(List<Entry> ref, List<Entry> got) {
        if (ref.size() != got.size()) throw new IllegalArgumentException("traces of " + ref.size() + " and " + got.size() + " ops");
        List<Diff> out = new ArrayList<>();
        for (int i = 0; i < ref.size(); i++) {
            Entry a = ref.get(i), b = got.get(i);
            if (!withoutFloatType(a.op).equals(withoutFloatType(b.op)) || a.values.length != b.values.length) {
                throw new IllegalArgumentException("op " + i + ": " + a.op + " " + a.shape + " vs " + b.op + " " + b.shape);
            }
            if (a.op.startsWith("moe_route")) {
                int diff = 0;
                for (int k = 0; k < a.values.length; k++) if (a.values[k] != b.values[k]) diff++;
                out.add(new Diff(a, (double) diff / a.values.length, (double) diff / a.values.length, diff + " of " + a.values.length + " ids differ"));
                continue;
            }
            double scale = 0, worst = 0, ss = 0, se = 0;
            boolean nan = false;
            for (int k = 0; k < a.values.length; k++) {
                double e = (double) b.values[k] - a.values[k];
                if (Double.isNaN(e)) nan = true;
                scale = Math.max(scale, Math.abs(a.values[k]));
                worst = Math.max(worst, Math.abs(e));
                ss += (double) a.values[k] * a.values[k];
                se += e * e;
            }
            out.add(new Diff(a, nan ? Double.NaN : scale == 0 ? worst : worst / scale, nan ? Double.NaN : ss == 0 ? Math.sqrt(se) : Math.sqrt(se / ss),
                    nan ? "NaN" : ""));
        }
        return out;
    }

    /** The table of {@link #compare}, one line per op. */
    public static String table(List<Diff> diffs) {
        StringBuilder s = new StringBuilder(String.format("%4s %5s  %-34s %-12s %11s %11s%n", "op", "layer", "name", "shape", "max rel", "norm rel"));
        for (Diff d : diffs) {
            s.append(String.format("%4d %5s  %-34s %-12s %11.3e %11.3e  %s%n", d.ref.index, d.ref.layer < 0 ? "-" : String.valueOf(d.ref.layer),
                    d.ref.op, d.ref.shape, d.maxRel, d.normRel, d.note));
        }
        return s.toString();
    }
}
