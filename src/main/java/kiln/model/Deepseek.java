package kiln.model;

import kiln.backend.Backend;
import kiln.backend.Heads;
import kiln.backend.KvCache;
import kiln.backend.KvLayout;
import kiln.backend.MlaInputs;
import kiln.backend.MlaQuery;
import kiln.backend.MoeRouting;
import kiln.backend.Rope;
import kiln.backend.Tensor;
import kiln.backend.Weight;
import kiln.config.ModelConfig;
import kiln.config.RopeScaling;

import java.util.ArrayList;
import java.util.List;

/**
 * DeepSeek-V2 and V3/R1: multi-head latent attention and DeepSeekMoE.
 *
 * <p>MLA caches per token only the normalised latent c_kv (kv_lora_rank) and one rotated rope key shared by all
 * heads. Attention runs in the absorbed form: W_UK is folded into the query (q_latent = W_UK^T q_nope), so every
 * head scores against the latent directly, and W_UV is applied to the attended latent afterwards.
 *
 * <p>Prefill in the MHA form where the backend wants it ({@link Backend#mlaPrefillMha}): the whole visible context
 * of each sequence is gathered from the cache and expanded per head (k_nope = W_UK c_kv, v = W_UV c_kv), and the
 * new tokens attend with 192-wide keys instead of 576-wide latent entries (3.4x fewer FLOPs for long prompts, and a
 * FlashAttention-style kernel reads each key tile once per block of queries). Decode stays absorbed.
 *
 * <p>MoE: V3 scores experts with a sigmoid, adds e_score_correction_bias for the choice only, keeps the best
 * topk_group groups (ranked by their two best biased scores) and the top-k experts in them, weights them by the
 * unbiased scores (normalised) times routed_scaling_factor, and adds the shared experts. V2 uses a softmax gate.
 *
 * <p>Tensor parallel (as SGLang): each rank holds its heads' rows of q_b_proj (q_proj) and kv_b_proj and their
 * columns of o_proj; q_a_proj and kv_a_proj_with_mqa are whole on every rank, so every rank computes and caches the
 * whole latent, which all heads read. Dense MLPs, shared experts and every routed expert are split along their
 * intermediate dimension; the router is whole, so every rank chooses the same experts.
 */
final class Deepseek extends CausalLm {
    /** {@code upK} (W_UK [heads * nope, latent], kv_b_proj's key rows) only when the backend wants MHA prefill. */
    private record Attention(Weight qA, Weight qANorm, Weight qB, Weight kvA, Weight kvANorm, Weight absorbK,
                             Weight absorbV, Weight o, Weight upK) {}

    /**
     * Largest expanded context (rows x heads x (nope + v) values) the MHA form builds in one forward; beyond it the
     * batch runs absorbed (R1: 8,192 context rows, 512 MiB of bf16 k_nope and v). Chunking the context with a
     * merge of partial softmax states would lift this.
     */
    static final long MHA_MAX_CONTEXT_VALUES = 1L << 28;

    /**
     * Fewest new tokens for the MHA form. Both forms' attention grows with new tokens x context, but the MHA form
     * also expands the whole context (2 x latent x heads x (nope + v) FLOPs per row, on GEMMs at ~500 TFLOP/s) while
     * the absorbed kernel runs its 3.4x larger score/sum work at ~50 TFLOP/s (docs/cuda.md has the profile): the
     * expansion pays for itself from about 13 new tokens, whatever the context length.
     */
    static final int MHA_MIN_TOKENS = 16;

    private record Mlp(Weight gate, Weight up, Weight down) {}

    private record Moe(Weight router, Weight scoreBias, Backend.Experts experts, Mlp shared) {}

    /** This rank's attention heads (all of them in a group of one). */
    private final int heads;
    private final int nope, ropeDim, vDim, latent;
    private final float scale;
    private final Rope rope;
    private final MoeRouting routing;
    private final Attention[] attention;
    private final Mlp[] dense;
    private final Moe[] moe;
    private final boolean mhaPrefill;
    private long unchosenExpertBytes;

    Deepseek(ModelConfig c, Weights weights) {
        super(c, weights);
        heads = shard.share(c.numHeads());
        nope = c.qkNopeHeadDim();
        ropeDim = c.qkRopeHeadDim();
        vDim = c.vHeadDim();
        latent = c.kvLoraRank();
        rope = Rotary.of(c, ropeDim, true);
        scale = softmaxScale(c);
        routing = new MoeRouting(
                c.scoringFunc().equals("sigmoid") ? MoeRouting.Scoring.SIGMOID : MoeRouting.Scoring.SOFTMAX,
                c.topkMethod().equals("greedy") ? MoeRouting.Method.GREEDY : MoeRouting.Method.GROUP_LIMITED,
                c.nRoutedExperts(), c.numExpertsPerTok(), Math.max(1, c.nGroup()), Math.max(1, c.topkGroup()),
                c.normTopkProb(), (float) c.routedScalingFactor());
        attention = new Attention[c.numLayers()];
        dense = new Mlp[c.numLayers()];
        moe = new Moe[c.numLayers()];
        mhaPrefill = backend.mlaPrefillMha(heads, nope, ropeDim, vDim);
        loadLayers();
    }

    /** 1/sqrt(qk_head_dim), times YaRN's mscale(factor, mscale_all_dim)^2 when rope scaling is YaRN (V2 and V3). */
    static float softmaxScale(ModelConfig c) {
        double s = 1.0 / Math.sqrt(c.qkHeadDim());
        if (c.ropeScaling() instanceof RopeScaling.Yarn y && y.mscaleAllDim() != 0) {
            double m = Rotary.yarnMscale(y.factor(), y.mscaleAllDim());
            s *= m * m;
        }
        return (float) s;
    }

    @Override
    protected void loadLayer(int l, String p) {
        ModelConfig c = config;
        int h = c.hiddenSize(), allHeads = c.numHeads(), qDim = allHeads * (nope + ropeDim);
        Split byHeads = Split.rows(allHeads, "heads");
        String a = p + "self_attn.";
        Weight qA = null, qANorm = null, qB;
        if (c.qLoraRank() > 0) {
            qA = weights.linear(a + "q_a_proj.weight", c.qLoraRank(), h);
            qANorm = weights.norm(a + "q_a_layernorm.weight", c.qLoraRank());
            qB = weights.linear(a + "q_b_proj.weight", qDim, c.qLoraRank(), byHeads);
        } else {
            qB = weights.linear(a + "q_proj.weight", qDim, h, byHeads);
        }
        Weight kvA = weights.linear(a + "kv_a_proj_with_mqa.weight", latent + ropeDim, h);
        Weight kvANorm = weights.norm(a + "kv_a_layernorm.weight", latent);
        float[] kvB = weights.floats(a + "kv_b_proj.weight", allHeads * (nope + vDim), latent, byHeads);
        Weight o = weights.linear(a + "o_proj.weight", h, allHeads * vDim, Split.columns(allHeads, "heads"));
        attention[l] = new Attention(qA, qANorm, qB, kvA, kvANorm, backend.weight(absorbKey(kvB), heads * latent, nope),
                backend.weight(absorbValue(kvB), heads * vDim, latent), o,
                mhaPrefill ? backend.weight(upKey(kvB), heads * nope, latent) : null);

        String m = p + "mlp.";
        if (!c.isMoeLayer(l)) {
            dense[l] = mlp(m, c.intermediateSize());
            return;
        }
        int e = c.nRoutedExperts(), inter = c.moeIntermediateSize();
        Weight router = weights.dense(m + "gate.weight", e, h);
        Weight bias = c.topkMethod().equals("noaux_tc") ? weights.scoreBias(m + "gate.e_score_correction_bias", e) : null;
        List<Weight> gate = new ArrayList<>(), up = new ArrayList<>(), down = new ArrayList<>();
        long before = weights.bytes();
        for (int i = 0; i < e; i++) {
            String x = m + "experts." + i + ".";
            gate.add(weights.linear(x + "gate_proj.weight", inter, h, Split.rows(inter, "intermediate rows")));
            up.add(weights.linear(x + "up_proj.weight", inter, h, Split.rows(inter, "intermediate rows")));
            down.add(weights.linear(x + "down_proj.weight", h, inter, Split.columns(inter, "intermediate columns")));
        }
        unchosenExpertBytes += (weights.bytes() - before) / e * (e - c.numExpertsPerTok());
        Mlp shared = c.nSharedExperts() > 0 ? mlp(m + "shared_experts.", inter * c.nSharedExperts()) : null;
        moe[l] = new Moe(router, bias, backend.experts(gate, up, down), shared);
    }

    /** A SwiGLU MLP, column-parallel gate and up, row-parallel down. */
    private Mlp mlp(String prefix, int inter) {
        int h = config.hiddenSize();
        Split rows = Split.rows(inter, "intermediate rows");
        return new Mlp(weights.linear(prefix + "gate_proj.weight", inter, h, rows), weights.linear(prefix + "up_proj.weight", inter, h, rows),
                weights.linear(prefix + "down_proj.weight", h, inter, Split.columns(inter, "intermediate columns")));
    }

    /** Per head, W_UK^T [latent, nope]: turns q_nope into a query against the latent. */
    private float[] absorbKey(float[] kvB) {
        float[] out = new float[heads * latent * nope];
        for (int hd = 0; hd < heads; hd++) {
            for (int d = 0; d < nope; d++) {
                int row = hd * (nope + vDim) + d;
                for (int j = 0; j < latent; j++) out[(hd * latent + j) * nope + d] = kvB[row * latent + j];
            }
        }
        return out;
    }

    /** W_UK as a linear layer [heads * nope, latent] (kv_b_proj's key rows): expands c_kv into per-head k_nope. */
    private float[] upKey(float[] kvB) {
        float[] out = new float[heads * nope * latent];
        for (int hd = 0; hd < heads; hd++) {
            System.arraycopy(kvB, hd * (nope + vDim) * latent, out, hd * nope * latent, nope * latent);
        }
        return out;
    }

    /** Per head, W_UV [v_head_dim, latent]: turns the attended latent into the head's value output. */
    private float[] absorbValue(float[] kvB) {
        float[] out = new float[heads * vDim * latent];
        for (int hd = 0; hd < heads; hd++) {
            System.arraycopy(kvB, (hd * (nope + vDim) + nope) * latent, out, hd * vDim * latent, vDim * latent);
        }
        return out;
    }

    @Override
    protected Tensor attention(int l, Tensor x, KvCache cache) {
        Attention w = attention[l];
        int tokens = x.rows();
        // the query's first projection (q_a, or q without a q LoRA) and kv_a both read x
        Tensor q = backend.tensor(tokens, heads * (nope + ropeDim));
        Tensor kv = backend.tensor(tokens, latent + ropeDim);
        if (w.qA() != null) {
            Tensor qa = backend.tensor(tokens, w.qA().rows());
            backend.linearPair(x, w.qA(), qa, w.kvA(), kv);
            backend.rmsNorm(qa, w.qANorm(), config.rmsNormEps(), qa);
            backend.linear(qa, w.qB(), q);
        } else {
            backend.linearPair(x, w.qB(), q, w.kvA(), kv);
        }
        Heads qNope = q.heads(heads, nope + ropeDim, 0, nope), qRope = q.heads(heads, nope + ropeDim, nope, ropeDim);

        Tensor cKv = backend.tensor(tokens, latent);
        Tensor kRope = kv.columns(latent, ropeDim);
        Tensor values = backend.tensor(tokens, heads * vDim);
        if (useMha(w)) {
            backend.rmsNormAndRope(kv.columns(0, latent), w.kvANorm(), config.rmsNormEps(), cKv, qRope, kRope.heads(1, ropeDim), rope);
            mhaAttention(l, w, cache, q, cKv, kRope, values);
        } else {
            Tensor qLatent = backend.tensor(tokens, heads * latent);
            backend.mlaAbsorbedInputs(new MlaInputs(kv.columns(0, latent), w.kvANorm(), config.rmsNormEps(), cKv, qRope, kRope.heads(1, ropeDim),
                    rope, qNope, w.absorbK(), qLatent.heads(heads, latent)));
            Tensor attended = backend.tensor(tokens, heads * latent);
            backend.mlaAttentionValues(new MlaQuery(cache, l, qLatent.heads(heads, latent), qRope, cKv, kRope, scale), attended.heads(heads, latent),
                    w.absorbV(), values.heads(heads, vDim));
        }
        Tensor out = backend.tensor(tokens, config.hiddenSize());
        backend.linear(values, w.o(), out);
        return out;
    }

    private boolean useMha(Attention w) {
        if (w.upK() == null || batch().isDecode() || batch().numTokens() < MHA_MIN_TOKENS
                || !backend.mlaPrefillMha(heads, nope, ropeDim, vDim)) return false;
        return (long) batch().contextTokens() * heads * (nope + vDim) <= MHA_MAX_CONTEXT_VALUES;
    }

    /** Every sequence's context gathered from the cache and expanded per head; plain causal attention over it. */
    private void mhaAttention(int l, Attention w, KvCache cache, Tensor q, Tensor cKv, Tensor kRope, Tensor values) {
        int rows = batch().contextTokens();
        Tensor context = backend.tensor(rows, latent + ropeDim);
        backend.mlaStoreGather(cache, l, cKv, kRope, context);
        Tensor kNope = backend.tensor(rows, heads * nope), v = backend.tensor(rows, heads * vDim);
        backend.linear(context.columns(0, latent), w.upK(), kNope);
        backend.linear(context.columns(0, latent), w.absorbV(), v);
        backend.mlaPrefillAttention(q.heads(heads, nope + ropeDim, 0, nope), q.heads(heads, nope + ropeDim, nope, ropeDim),
                kNope.heads(heads, nope), context.columns(latent, ropeDim), v.heads(heads, vDim), scale, values.heads(heads, vDim));
    }

    @Override
    protected Tensor mlp(int l, Tensor x) {
        if (dense[l] != null) return swiglu(x, dense[l].gate(), dense[l].up(), dense[l].down());
        Moe m = moe[l];
        // the shared experts read only x: a GPU runs them beside the router and the routed experts
        Tensor shared = m.shared() == null ? null : backend.concurrently(() -> swiglu(x, m.shared().gate(), m.shared().up(), m.shared().down()));
        Tensor logits = backend.tensor(x.rows(), config.nRoutedExperts());
        Backend.Routing chosen = backend.route(x, m.router(), logits, m.scoreBias(), routing);
        Tensor out = backend.tensor(x.rows(), config.hiddenSize());
        backend.moe(x, chosen, m.experts(), shared, out);
        return out;
    }

    @Override
    public KvLayout kvLayout() {
        return new KvLayout.Mla(config.numLayers(), latent, ropeDim);
    }

    @Override
    public long decodeBytesPerToken() {
        return weightBytes() - embeddingBytes() + embeddingRowBytes() - unchosenExpertBytes;
    }
}
