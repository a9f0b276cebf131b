package kiln.backend;

import kiln.io.TensorData;

import java.util.List;

/**
 * The operations a model forward needs, implemented once per device (CPU: Vector API; CUDA: own kernels and
 * cuBLASLt). Model code is written only against this interface. Activations are float matrices; weights stay
 * in their stored precision (bf16, fp16, fp32, or fp8 with 128x128 block scales).
 *
 * <p>A forward starts with {@link #begin}, which makes the batch's tokens, positions and KV slots current for the
 * ops that need them (embedding, rope, attention); tensors from {@link #tensor} live until the next begin.
 */
public interface Backend extends AutoCloseable {
    String name();

    // ---- weights (uploaded once) ----

    /** A linear layer's weight [out, in], read where it is stored; {@code scaleInv} is the fp8 block scale or null. */
    Weight weight(TensorData data, TensorData scaleInv, int blockRows, int blockCols);

    /** A matrix computed at load time (e.g. MLA's absorbed projections), row-major [rows, cols]. */
    Weight weight(float[] values, int rows, int cols);

    /** A vector (norm weight, bias, score bias) as a 1 x n weight. */
    default Weight vector(float[] values) {
        return weight(values, 1, values.length);
    }

    /** Routed experts of one MoE layer, each [gate, up: inter x hidden; down: hidden x inter]. */
    Experts experts(List<Weight> gate, List<Weight> up, List<Weight> down);

    KvCache kvCache(KvLayout layout, int slots);

    /** Bytes this backend could still hand to a KV pool. */
    long freeMemoryBytes();

    /**
     * Bytes for the KV pool under {@code --mem-fraction-static}: on a GPU, as SGLang, the fraction of total memory
     * for weights and KV together, minus what is already used; on the CPU, the fraction of free memory.
     */
    long kvMemoryBudget(double memFractionStatic);

    /** The default {@code --mem-fraction-static} of this backend. */
    double defaultMemFractionStatic();

    /** Bytes one token occupies in a KV pool of this layout. */
    default long kvBytesPerToken(KvLayout layout) {
        return (long) layout.layers() * layout.valuesPerToken() * Float.BYTES;
    }

    // ---- one forward ----

    void begin(ForwardBatch batch);

    Tensor tensor(int rows, int cols);

    /** Rows {@code rows} of {@code x}, gathered into a new tensor. */
    Tensor gatherRows(Tensor x, int[] rows);

    float[] download(Tensor t);

    /** A new tensor holding {@code values} (row-major [rows, cols]); for tests, benchmarks and host-made inputs. */
    Tensor upload(float[] values, int rows, int cols);

    /**
     * Marks the forward's activation storage: {@link #release} with the mark frees every tensor allocated after
     * it. Model code brackets each layer so a device's peak is one layer's temporaries. CPU: no-op (the GC).
     */
    default long mark() {
        return 0;
    }

    default void release(long mark) {}

    /**
     * One token per row of {@code logits}. Row r: {@code temperature[r] <= 0} is greedy ({@link #argmax});
     * otherwise softmax(logits / temperature) restricted to the {@code topK[r]} largest (0: all), then to the
     * largest whose mass reaches {@code topP[r]} (1: all), and the token at {@code uniform[r]} (in [0, 1), drawn by
     * the caller so runs reproduce) of the cumulative distribution over the kept tokens in index order. Ties at
     * a cut are all kept. Only the ids leave the device.
     */
    default int[] sample(Tensor logits, float[] temperature, int[] topK, float[] topP, float[] uniform) {
        int rows = logits.rows(), cols = logits.cols();
        if (temperature.length != rows || topK.length != rows || topP.length != rows || uniform.length != rows) {
            throw new IllegalArgumentException("sample: parameters for " + temperature.length + " rows, logits have " + rows);
        }
        float[] v = download(logits);
        int[] out = new int[rows];
        for (int r = 0; r < rows; r++) {
            out[r] = temperature[r] <= 0 ? RowSampling.argmax(v, r * cols, cols)
                    : RowSampling.draw(v, r * cols, cols, temperature[r], topK[r], topP[r], 0f, uniform[r]);
        }
        return out;
    }

    /** Per row of {@code logits}, the index of the largest value, lowest index on ties (greedy sampling). */
    default int[] argmax(Tensor logits) {
        float[] v = download(logits);
        int rows = logits.rows(), cols = logits.cols();
        int[] out = new int[rows];
        for (int r = 0; r < rows; r++) out[r] = RowSampling.argmax(v, r * cols, cols);
        return out;
    }

    // ---- ops ----

    /** out[t] = table[tokens[t]] for the current batch. */
    void embed(Weight table, Tensor out);

    /** out = x / rms(x) * w, per row. */
    void rmsNorm(Tensor x, Weight w, float eps, Tensor out);

    /** acc += x. */
    void add(Tensor acc, Tensor x);

    /** x += delta, then out = x / rms(x) * w: the residual add fused into the next norm (one pass on a GPU). */
    default void addRmsNorm(Tensor x, Tensor delta, Weight w, float eps, Tensor out) {
        add(x, delta);
        rmsNorm(x, w, eps, out);
    }

    /** out = x W^T (+ bias). */
    void linear(Tensor x, Weight w, Weight bias, Tensor out);

    default void linear(Tensor x, Weight w, Tensor out) {
        linear(x, w, null, out);
    }

    /** Two linear layers of the same input (MLA's q and kv_a projections); a device may run them as one launch. */
    default void linearPair(Tensor x, Weight a, Tensor outA, Weight b, Tensor outB) {
        linear(x, a, outA);
        linear(x, b, outB);
    }

    /** Per head h: out[t,h] = W_h x[t,h], with W holding the heads' matrices stacked: [heads * outWidth, inWidth]. */
    void headLinear(Heads x, Weight w, Heads out);

    /** Rotates the heads in place at the current batch's positions. */
    void rope(Heads x, Rope rope);

    /** Rope over two head sets of the same batch (MLA's query and key parts); a device may do both in one launch. */
    default void rope(Heads a, Heads b, Rope rope) {
        rope(a, rope);
        rope(b, rope);
    }

    /**
     * out = rmsNorm(x), then the rope over a and b (MLA's latent norm and its query and key ropes, which touch
     * disjoint columns); a device may do all three in one launch.
     */
    default void rmsNormAndRope(Tensor x, Weight w, float eps, Tensor out, Heads a, Heads b, Rope rope) {
        rmsNorm(x, w, eps, out);
        rope(a, b, rope);
    }

    /**
     * Absorbed MLA's inputs: {@link #rmsNormAndRope} (the latent's norm into {@code latentOut}, the query and key ropes)
     * and each head's W_UK ({@code absorbKey}, as {@link #headLinear}) from {@code qNope} into {@code qLatent}. The two
     * are independent (disjoint columns in, disjoint outputs); a device may run them as one launch.
     */
    default void mlaAbsorbedInputs(Tensor latentIn, Weight latentNorm, float eps, Tensor latentOut, Heads qRope, Heads kRope, Rope rope,
                                   Heads qNope, Weight absorbKey, Heads qLatent) {
        rmsNormAndRope(latentIn, latentNorm, eps, latentOut, qRope, kRope, rope);
        headLinear(qNope, absorbKey, qLatent);
    }

    /** out = silu(gate) * up. */
    void siluMul(Tensor gate, Tensor up, Tensor out);

    /**
     * out = silu(x gate^T) * (x up^T), SwiGLU's first half. Default: two linear layers and siluMul (the CPU's numbers
     * are unchanged); the GPU reads x once and launches once for decode-sized batches.
     */
    default void siluGateUp(Tensor x, Weight gate, Weight up, Tensor out) {
        Tensor u = tensor(x.rows(), up.rows());
        linear(x, gate, out);
        linear(x, up, u);
        siluMul(out, u, out);
    }

    /**
     * DeepSeek MLA in the absorbed form: stores this step's {@code latent} (normalised c_kv) and {@code keyRope}
     * into the cache, then each query head attends over its sequence's cached entries (causally) with
     * score = scale * (qLatent . c_kv + qRope . k_rope) and writes sum(p * c_kv) to {@code out}.
     */
    void mlaAttention(KvCache cache, int layer, Heads qLatent, Heads qRope, Tensor latent, Tensor keyRope,
                      float scale, Heads out);

    /**
     * {@link #mlaAttention} into {@code attended}, then each head's W_UV ({@code absorbValue}, as {@link #headLinear})
     * from it into {@code values}; a device may skip writing {@code attended} and feed W_UV directly (one launch fewer
     * in decode).
     */
    default void mlaAttentionValues(KvCache cache, int layer, Heads qLatent, Heads qRope, Tensor latent, Tensor keyRope,
                                    float scale, Heads attended, Weight absorbValue, Heads values) {
        mlaAttention(cache, layer, qLatent, qRope, latent, keyRope, scale, attended);
        headLinear(attended, absorbValue, values);
    }

    /**
     * Does this backend want the prefill (extend batches) of DeepSeek MLA in the MHA form: store the latent, gather
     * each sequence's visible context ({@link #mlaStoreGather}), expand k_nope = W_UK c_kv and v = W_UV c_kv with
     * linear layers, then {@link #mlaPrefillAttention}? For a shape its kernel lacks, a backend says no and the model
     * keeps the absorbed form. Default: no (the CPU keeps one code path for prefill and decode).
     */
    default boolean mlaPrefillMha(int heads, int nope, int rope, int vDim) {
        return false;
    }

    /**
     * Stores this step's {@code latent} and {@code keyRope} into the cache (as {@link #mlaAttention} does), then
     * gathers the cache entries [c_kv | k_rope] of every sequence's whole visible context (cached tokens, then this
     * step's) into {@code out} [sum of totalTokens, latent + rope]: sequence s (batch order) at rows starting at the
     * sum of the earlier sequences' totalTokens. Only where {@link #mlaPrefillMha} says yes.
     */
    default void mlaStoreGather(KvCache cache, int layer, Tensor latent, Tensor keyRope, Tensor out) {
        throw new UnsupportedOperationException(name() + ": no MHA-form MLA prefill (mlaPrefillMha is false)");
    }

    /**
     * Causal attention of the current (extend) batch in DeepSeek's MHA form. Head h of new token t (sequence s, index
     * i in its chunk) attends over its sequence's context rows j < cached + i + 1 (rows laid out as
     * {@link #mlaStoreGather} lays them out) with key [kNope_h(j) | kRope(j)] (the rope key shared by all heads),
     * query [qNope_h(t) | qRope_h(t)], score scale * q.k, and writes sum(softmax * vHead_h(j)) to out_h(t).
     */
    default void mlaPrefillAttention(Heads qNope, Heads qRope, Heads kNope, Tensor kRope, Heads v, float scale, Heads out) {
        throw new UnsupportedOperationException(name() + ": no MHA-form MLA prefill (mlaPrefillMha is false)");
    }

    /** Grouped-query attention over the paged cache, after storing this step's k and v. */
    void attention(KvCache cache, int layer, Heads q, Heads k, Heads v, float scale, Heads out);

    /** Chooses experts per token from router logits [T, experts]; {@code scoreBias} may be null. */
    Routing route(Tensor routerLogits, Weight scoreBias, MoeRouting routing);

    /**
     * Router then routing: logits = x router^T (written to {@code logits}), then {@link #route}; a device may do
     * both in one launch.
     */
    default Routing route(Tensor x, Weight router, Tensor logits, Weight scoreBias, MoeRouting routing) {
        linear(x, router, logits);
        return route(logits, scoreBias, routing);
    }

    /** out[t] = sum over chosen experts e of weight(t,e) * down_e(silu(gate_e x) * up_e x). */
    void moe(Tensor x, Routing routing, Experts experts, Tensor out);

    /**
     * Ops {@code work} issues may run beside the ops issued after this call, until {@code moe(..., plus, out)}
     * reads the returned tensor as its {@code plus} (the only reader allowed before that moe): DeepSeek's shared
     * experts need only the layer input, so a GPU runs them beside the router and the routed experts.
     */
    default Tensor concurrently(java.util.function.Supplier<Tensor> work) {
        return work.get();
    }

    /** {@code out = moe(x) + plus} (DeepSeek's shared experts; null: none): a device may fold the add into its combine. */
    default void moe(Tensor x, Routing routing, Experts experts, Tensor plus, Tensor out) {
        moe(x, routing, experts, out);
        if (plus != null) add(out, plus);
    }

    /** Routing decisions, resident where the backend computed them. */
    interface Routing {
        int topK();

        /** Host copy [tokens * topK] of chosen expert ids (tests and statistics). */
        int[] expertIds();
    }

    interface Experts {
        int count();
    }

    @Override
    void close();
}
