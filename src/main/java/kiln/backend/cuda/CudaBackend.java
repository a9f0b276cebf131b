package kiln.backend.cuda;

import kiln.backend.Backend;
import kiln.backend.ForwardBatch;
import kiln.backend.Heads;
import kiln.backend.KvCache;
import kiln.backend.KvLayout;
import kiln.backend.LogitConstraints;
import kiln.backend.MlaInputs;
import kiln.backend.MlaQuery;
import kiln.backend.MoeRouting;
import kiln.backend.Rope;
import kiln.backend.SampledIds;
import kiln.backend.Tensor;
import kiln.backend.Weight;
import kiln.io.DType;
import kiln.io.TensorData;

import java.util.List;
import java.util.Set;
import java.util.function.Supplier;

/**
 * The CUDA backend: weights uploaded once in stored precision (FP8 stays FP8 with its float block scales),
 * activations in a per-forward arena, Kiln's kernels (src/main/cuda) plus cuBLASLt for large bf16 GEMMs. This class
 * owns one forward's lifecycle and hands each op to the family that implements it ({@link CudaContext} draws
 * them). All device work goes through the device's owner thread ({@link CudaDevice#call}); a model forward run on
 * that thread (as {@link CudaGraphRunner} does) makes no thread hand-offs at all.
 *
 * <p>Nothing in a forward waits for the device: MoE routing, expert grouping and attention splits are decided
 * on the device from the batch metadata, so a decode step can be captured as one CUDA graph. Only
 * {@link #download}, the samplers and {@link Backend.Routing#expertIds} synchronise (and the per-expert MoE path of
 * eager prefill).
 */
public final class CudaBackend implements Backend {
    private final CudaDevice device;
    private final boolean ownsDevice;
    private final CudaOptions options;
    /** The tensor-parallel group this backend is a rank of, or null alone (rank 0 of 1). */
    private final CudaRankGroup group;
    private final int rank;
    private CudaContext ctx;
    private DeviceWeights weights;
    private ElementwiseOps elementwise;
    private LinearLayers linear;
    private PagedAttention paged;
    private MlaDecode mlaDecode;
    private MlaPrefill mlaPrefill;
    private MoeLayer moe;
    private DeviceSampling sampling;
    private ForwardBatch staged;
    private boolean closed;

    public CudaBackend(CudaOptions options) {
        this(new CudaDevice(checked(options).device()), true, options);
    }

    /** Refuses option combinations no kernel implements, before a device is set up. */
    private static CudaOptions checked(CudaOptions options) {
        if (options.fp8KvCache() && options.precision() != Precision.BFLOAT16) {
            throw new IllegalArgumentException("--kv-cache-dtype fp8_e4m3 needs bfloat16 activations (--dtype bfloat16 or auto), not "
                    + options.precision().name().toLowerCase(java.util.Locale.ROOT));
        }
        return options;
    }

    /** A backend on an existing device (several backends may share one device thread; the first loads the kernels). */
    public CudaBackend(CudaDevice device, boolean ownsDevice, CudaOptions options) {
        this(device, ownsDevice, options, null, 0);
    }

    /** Rank {@code rank} of {@code group} (made by the group). */
    CudaBackend(CudaDevice device, boolean ownsDevice, CudaOptions options, CudaRankGroup group, int rank) {
        checked(options);
        this.device = device;
        this.ownsDevice = ownsDevice;
        this.options = options;
        this.group = group;
        this.rank = rank;
        device.run(() -> {
            ctx = new CudaContext(device, options);
            weights = new DeviceWeights(ctx);
            elementwise = new ElementwiseOps(ctx);
            linear = new LinearLayers(ctx);
            PrefillBlocks prefillBlocks = new PrefillBlocks(ctx);
            paged = new PagedAttention(ctx, new GqaPrefill(ctx, prefillBlocks));
            mlaDecode = new MlaDecode(ctx, paged, elementwise, linear);
            mlaPrefill = new MlaPrefill(ctx, paged, prefillBlocks);
            moe = new MoeLayer(ctx, linear, this);
            sampling = new DeviceSampling(ctx);
        });
    }

    public CudaDevice device() {
        return device;
    }

    /** Does this build carry the kernels resource (was nvcc found when it was built)? */
    public static boolean kernelsPresent() {
        return Kernels.resourcePresent();
    }

    public Precision precision() {
        return options.precision();
    }

    public CudaOptions options() {
        return options;
    }

    CudaContext context() {
        return ctx;
    }

    /**
     * {@code size} tensor-parallel ranks set up like this backend, of the kind {@code kiln.cuda.tpRanks} names:
     * virtual ranks on this backend's GPU, or NCCL ranks on GPUs this one's ordinal + r (this backend stays the
     * caller's). Without the property, refused with a message naming it.
     */
    public kiln.backend.RankGroup ranks(int size) {
        return ranks(size, TpRanksConfig.fromProperties());
    }

    /** {@code size} ranks of the kind {@code config} names (tests pick the kind without the property). */
    public kiln.backend.RankGroup ranks(int size, TpRanksConfig config) {
        return CudaRankGroup.create(this, size, config);
    }

    // ---- tensor-parallel collectives ----

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
        if (group != null) group.allReduceSum(rank, ctx.check(t));
    }

    @Override
    public void allGatherColumns(Tensor part, Tensor out) {
        if (group != null) group.allGatherColumns(rank, ctx.check(part), ctx.check(out));
        else Backend.super.allGatherColumns(part, out);
    }

    /** Do FP8 weights of more than 8 rows take cuBLASLt's block-scaled FP8 GEMM (activations quantised to fp8)? */
    public boolean fp8LtActive() {
        return linear.fp8Layout() >= 0;
    }

    @Override
    public String name() {
        return "cuda:" + device.ordinal + " (" + device.name + ", " + options.precision().name().toLowerCase() + " activations"
                + (linear.cublas() ? ", cuBLASLt" : "")
                + (group == null ? "" : ", tp rank " + rank + " of " + group.size() + (group instanceof NcclRanks ? " over NCCL" : " sharing the GPU"))
                + ")";
    }

    // ---- weights and the KV cache ----

    @Override
    public Weight weight(TensorData data, TensorData scaleInv, int blockRows, int blockCols) {
        return weights.weight(data, scaleInv, blockRows, blockCols, linear.fp8Layout());
    }

    /** Load-time matrices (MLA's absorbed projections) are kept in the activation precision. */
    @Override
    public Weight weight(float[] values, int rows, int cols) {
        return weights.matrix(values, rows, cols);
    }

    /** Norm weights, biases and score biases stay float whatever the precision. */
    @Override
    public Weight vector(float[] values) {
        return weights.vector(values);
    }

    @Override
    public Experts experts(List<Weight> gate, List<Weight> up, List<Weight> down) {
        return weights.experts(gate, up, down);
    }

    @Override
    public KvCache kvCache(KvLayout layout, int slots) {
        if (options.fp8KvCache()) layout.checkFp8();
        return new CudaKvCache(this, layout, slots, kvCacheDtype());
    }

    @Override
    public long freeMemoryBytes() {
        return device.memInfo()[0];
    }

    /**
     * SGLang's rule: weights and KV together take the fraction of total memory; the rest stays for activations.
     * Virtual ranks sharing the GPU each get their share of what is left (every rank's weights are already in).
     */
    @Override
    public long kvMemoryBudget(double memFractionStatic) {
        long[] m = device.memInfo();
        long used = m[1] - m[0];
        return ((long) (memFractionStatic * m[1]) - used) / (group == null ? 1 : group.ranksPerDevice());
    }

    @Override
    public double defaultMemFractionStatic() {
        return 0.88;
    }

    @Override
    public DType kvCacheDtype() {
        return options.fp8KvCache() ? DType.F8_E4M3 : options.precision().dtype;
    }

    // ---- one forward ----

    @Override
    public boolean runsAhead() {
        return true;
    }

    @Override
    public void begin(ForwardBatch batch) {
        device.run(() -> {
            ctx.arena.reset();
            if (batch != staged) stage(batch);
            ctx.setBatch(batch);
        });
    }

    /**
     * Uploads the batch metadata into the fixed device buffers (also used before a graph replay). Future tokens
     * whose ids are still in this device's sampling ring are resolved there, in stream order; any others (ids of
     * another device, a tensor-parallel rank's) on the host, which waits for them.
     */
    void stage(ForwardBatch b) {
        ForwardBatch s = b.hasFutureTokens() && !sampling.onDevice(b.previous()) ? b.resolved() : b;
        ctx.meta.stage(s);
        if (s.hasFutureTokens()) sampling.resolveFutureTokens(ctx.meta.tokens(), s.numTokens(), s.previous());
        staged = b;
    }

    ActivationArena arena() {
        return ctx.arena;
    }

    @Override
    public long mark() {
        return device.call(() -> ctx.arena.mark());
    }

    @Override
    public void release(long mark) {
        device.run(() -> ctx.arena.release(mark));
    }

    @Override
    public Tensor tensor(int rows, int cols) {
        return device.call(() -> ctx.tensor(rows, cols));
    }

    @Override
    public Tensor gatherRows(Tensor x, int[] rows) {
        return elementwise.gatherRows(x, rows);
    }

    @Override
    public float[] download(Tensor t) {
        return device.call(() -> ctx.transfers.download((CudaTensor) t));
    }

    int[] downloadInts(long src, int count) {
        return device.call(() -> ctx.transfers.downloadInts(src, count));
    }

    @Override
    public Tensor upload(float[] values, int rows, int cols) {
        if (values.length != (long) rows * cols) throw new IllegalArgumentException(values.length + " values for " + rows + "x" + cols);
        return device.call(() -> ctx.transfers.upload(values, rows, cols));
    }

    // ---- dense ops ----

    @Override
    public void embed(Weight table, Tensor out) {
        elementwise.embed(table, out);
    }

    @Override
    public void rmsNorm(Tensor x, Weight w, float eps, Tensor out) {
        elementwise.rmsNorm(x, null, w, eps, out);
    }

    @Override
    public void addRmsNorm(Tensor x, Tensor delta, Weight w, float eps, Tensor out) {
        elementwise.rmsNorm(x, delta, w, eps, out);
    }

    @Override
    public void add(Tensor acc, Tensor x) {
        elementwise.add(acc, x);
    }

    @Override
    public void siluMul(Tensor gate, Tensor up, Tensor out) {
        elementwise.siluMul(gate, up, out);
    }

    @Override
    public void linear(Tensor x, Weight w, Weight bias, Tensor out) {
        linear.linear(x, w, bias, out);
    }

    @Override
    public void linearPair(Tensor x, Weight a, Tensor outA, Weight b, Tensor outB) {
        if (!linear.pair(x, a, outA, b, outB)) Backend.super.linearPair(x, a, outA, b, outB);
    }

    @Override
    public void siluGateUp(Tensor x, Weight gate, Weight up, Tensor out) {
        if (!linear.gateUp(x, gate, up, out)) Backend.super.siluGateUp(x, gate, up, out);
    }

    @Override
    public void headLinear(Heads x, Weight w, Heads out) {
        linear.headLinear(x, w, out);
    }

    @Override
    public void rope(Heads x, Rope rope) {
        elementwise.rope(x, rope);
    }

    @Override
    public void rope(Heads a, Heads b, Rope rope) {
        if (!elementwise.ropePair(a, b, rope)) Backend.super.rope(a, b, rope);  // the single-set path reports what is wrong
    }

    @Override
    public void rmsNormAndRope(Tensor x, Weight w, float eps, Tensor out, Heads a, Heads b, Rope rope) {
        if (!mlaDecode.normAndRope(x, w, eps, out, a, b, rope)) Backend.super.rmsNormAndRope(x, w, eps, out, a, b, rope);
    }

    // ---- attention ----

    @Override
    public void attention(KvCache cache, int layer, Heads q, Heads k, Heads v, float scale, Heads out) {
        paged.gqa(paged.cacheOf(cache, this), layer, q, k, v, scale, out);
    }

    @Override
    public void mlaAbsorbedInputs(MlaInputs in) {
        if (!mlaDecode.absorbedInputs(in)) Backend.super.mlaAbsorbedInputs(in);
    }

    @Override
    public void mlaAttention(MlaQuery q, Heads out) {
        mlaDecode.attention(this, q, out, null, null);
    }

    @Override
    public void mlaAttentionValues(MlaQuery q, Heads attended, Weight absorbValue, Heads values) {
        mlaDecode.attention(this, q, attended, (CudaWeight) absorbValue, values);
    }

    @Override
    public boolean mlaPrefillMha(int heads, int nope, int rope, int vDim) {
        return mlaPrefill.wants(nope, rope, vDim);
    }

    @Override
    public void mlaStoreGather(KvCache cache, int layer, Tensor latent, Tensor keyRope, Tensor out) {
        mlaPrefill.storeGather(this, cache, layer, latent, keyRope, out);
    }

    @Override
    public void mlaPrefillAttention(Heads qNope, Heads qRope, Heads kNope, Tensor kRope, Heads v, float scale, Heads out) {
        mlaPrefill.attention(qNope, qRope, kNope, kRope, v, scale, out);
    }

    // ---- mixture of experts ----

    @Override
    public Routing route(Tensor routerLogits, Weight scoreBias, MoeRouting r) {
        return moe.route(routerLogits, scoreBias, r);
    }

    @Override
    public Routing route(Tensor x, Weight router, Tensor logits, Weight scoreBias, MoeRouting r) {
        Routing fused = moe.routeFused(x, router, logits, scoreBias, r);
        return fused != null ? fused : Backend.super.route(x, router, logits, scoreBias, r);
    }

    @Override
    public void moe(Tensor x, Routing routing, Experts experts, Tensor out) {
        moe.moe(x, routing, experts, null, out);
    }

    @Override
    public void moe(Tensor x, Routing routing, Experts experts, Tensor plus, Tensor out) {
        moe.moe(x, routing, experts, plus, out);
    }

    @Override
    public Tensor concurrently(Supplier<Tensor> work) {
        return moe.concurrently(work);
    }

    // ---- sampling ----

    @Override
    public int[] argmax(Tensor logits) {
        return sampling.argmax(logits);
    }

    @Override
    public SampledIds argmaxAsync(Tensor logits) {
        return sampling.argmaxAsync(logits);
    }

    @Override
    public SampledIds sampleAsync(Tensor logits, float[] temperature, int[] topK, float[] topP, float[] uniform) {
        return sampling.sampleAsync(logits, temperature, topK, topP, uniform);
    }

    @Override
    public Tensor constrain(Tensor logits, LogitConstraints c) {
        return sampling.constrain(logits, c);
    }

    @Override
    public int[] sample(Tensor logits, float[] temperature, int[] topK, float[] topP, float[] uniform) {
        return sampling.sample(logits, temperature, topK, topP, uniform);
    }

    // ---- graphs, benchmarks and profiling ----

    void setCapturing(boolean on) {
        ctx.kernels.capturing = on;
    }

    boolean syncEachLaunch() {
        return options.flags().syncEachLaunch();
    }

    /**
     * Programmatic dependent launch on or off for later launches (on by default on Hopper): benchmarks compare both
     * in one process. Graphs captured earlier keep their edges: release and recapture them.
     */
    public void setProgrammaticLaunch(boolean on) {
        device.run(() -> ctx.kernels.setPdl(on));
    }

    public boolean programmaticLaunch() {
        return device.call(() -> ctx.kernels.pdl());
    }

    /** Benchmarks only: launches of these kernels are dropped (see Kernels.skip); recapture graphs after a change. */
    public void skipKernels(Set<String> names) {
        device.run(() -> ctx.kernels.skip(names));
    }

    /** Is per-op profiling on ({@link CudaFlags#profile})? CUDA graphs are bypassed then. */
    public boolean profiling() {
        return ctx.profiler != null;
    }

    /** Forgets the op times collected so far (after a warm-up). */
    public void profileReset() {
        if (ctx.profiler != null) device.run(ctx.profiler::reset);
    }

    /** The per-op table for the ops since the last reset, divided over {@code steps} of {@code stepMs} each; "" when off. */
    public String profileTable(String title, int steps, double stepMs) {
        return ctx.profiler == null ? "" : device.call(() -> ctx.profiler.table(title, steps, stepMs));
    }

    /** Device ms of the profiled ops (since the last reset) whose label starts with {@code prefix}; 0 when not profiling. */
    public double profileMs(String prefix) {
        return ctx.profiler == null ? 0 : device.call(() -> ctx.profiler.totalMs(prefix));
    }

    /** Peak activation bytes so far. */
    public long activationPeak() {
        return device.call(() -> ctx.arena.peak());
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        device.run(() -> {
            Driver.synchronize(device.stream(), "backend close");
            linear.close();
            sampling.close();
            ctx.close();
        });
        if (ownsDevice) device.close();
    }
}
