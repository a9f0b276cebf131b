package kiln.backend;

/**
 * Attention over the paged KV cache: grouped-query attention (Llama, Qwen2) and DeepSeek's MLA, whose decode runs in
 * the absorbed form (attention against the latent) and whose prefill a device may run in the MHA form.
 */
public interface AttentionOps extends DenseOps {
    /** Grouped-query attention over the paged cache, after storing this step's k and v. */
    void attention(KvCache cache, int layer, Heads q, Heads k, Heads v, float scale, Heads out);

    /**
     * DeepSeek MLA in the absorbed form: stores the query's step entries into the cache, then each query head attends
     * over its sequence's cached entries (causally) and writes sum(p * c_kv) to {@code out}.
     */
    void mlaAttention(MlaQuery q, Heads out);

    /**
     * {@link #mlaAttention} into {@code attended}, then each head's W_UV ({@code absorbValue}, as {@link #headLinear})
     * from it into {@code values}; a device may skip writing {@code attended} and feed W_UV directly (one launch fewer
     * in decode).
     */
    default void mlaAttentionValues(MlaQuery q, Heads attended, Weight absorbValue, Heads values) {
        mlaAttention(q, attended);
        headLinear(attended, absorbValue, values);
    }

    /**
     * Absorbed MLA's inputs: {@link #rmsNormAndRope} (the latent's norm, the query and key ropes) and each head's W_UK
     * (as {@link #headLinear}) from q_nope into q_latent. The two are independent (disjoint columns in, disjoint
     * outputs); a device may run them as one launch.
     */
    default void mlaAbsorbedInputs(MlaInputs in) {
        rmsNormAndRope(in.latentIn(), in.latentNorm(), in.eps(), in.latentOut(), in.qRope(), in.kRope(), in.rope());
        headLinear(in.qNope(), in.absorbKey(), in.qLatent());
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
}
