package kiln.model;

import kiln.backend.Backend;
import kiln.backend.KvCache;
import kiln.backend.KvLayout;
import kiln.backend.Rope;
import kiln.backend.Tensor;
import kiln.backend.Weight;
import kiln.config.ModelConfig;

/**
 * Llama and Qwen2 (the R1 distills): grouped-query attention with rotary embeddings (Llama 3.1 scaling where
 * configured; q/k/v biases in Qwen2) and a SwiGLU MLP.
 *
 * <p>Tensor parallel (as SGLang): each rank holds its query heads and the key/value heads they read (a tp beyond
 * the key/value heads gives several ranks the same one), its columns of o_proj, and its share of the MLP's
 * intermediate dimension.
 */
final class Llama extends CausalLm {
    private record Layer(Weight q, Weight k, Weight v, Weight qBias, Weight kBias, Weight vBias, Weight o,
                         Weight gate, Weight up, Weight down) {}

    /** This rank's query and key/value heads (all of them in a group of one). */
    private final int heads, kvHeads;
    private final int headDim;
    private final float scale;
    private final Rope rope;
    private final Layer[] layers;

    Llama(ModelConfig c, Weights weights) {
        super(c, weights);
        heads = shard.share(c.numHeads());
        kvHeads = Math.max(1, shard.share(c.numKvHeads()));
        headDim = c.headDim();
        scale = (float) (1.0 / Math.sqrt(headDim));
        rope = Rotary.of(c, headDim, false);
        layers = new Layer[c.numLayers()];
        loadLayers();
    }

    @Override
    protected void loadLayer(int l, String p) {
        int h = config.hiddenSize(), inter = config.intermediateSize(), qHeads = config.numHeads(), kv = config.numKvHeads();
        Split byHeads = Split.rows(qHeads, "heads"), byKvHeads = Split.kvHeadRows(kv);
        Split rows = Split.rows(inter, "intermediate rows");
        String a = p + "self_attn.", m = p + "mlp.";
        boolean bias = config.qkvBias();
        layers[l] = new Layer(
                weights.linear(a + "q_proj.weight", qHeads * headDim, h, byHeads),
                weights.linear(a + "k_proj.weight", kv * headDim, h, byKvHeads),
                weights.linear(a + "v_proj.weight", kv * headDim, h, byKvHeads),
                bias ? weights.bias(a + "q_proj.bias", qHeads * headDim, byHeads) : null,
                bias ? weights.bias(a + "k_proj.bias", kv * headDim, byKvHeads) : null,
                bias ? weights.bias(a + "v_proj.bias", kv * headDim, byKvHeads) : null,
                weights.linear(a + "o_proj.weight", h, qHeads * headDim, Split.columns(qHeads, "heads")),
                weights.linear(m + "gate_proj.weight", inter, h, rows),
                weights.linear(m + "up_proj.weight", inter, h, rows),
                weights.linear(m + "down_proj.weight", h, inter, Split.columns(inter, "intermediate columns")));
    }

    @Override
    protected Tensor attention(int l, Tensor x, KvCache cache) {
        Layer w = layers[l];
        int tokens = x.rows();
        Tensor q = backend.tensor(tokens, heads * headDim), k = backend.tensor(tokens, kvHeads * headDim),
                v = backend.tensor(tokens, kvHeads * headDim);
        backend.linear(x, w.q(), w.qBias(), q);
        backend.linear(x, w.k(), w.kBias(), k);
        backend.linear(x, w.v(), w.vBias(), v);
        backend.rope(q.heads(heads, headDim), rope);
        backend.rope(k.heads(kvHeads, headDim), rope);
        Tensor attended = backend.tensor(tokens, heads * headDim);
        backend.attention(cache, l, q.heads(heads, headDim), k.heads(kvHeads, headDim), v.heads(kvHeads, headDim), scale,
                attended.heads(heads, headDim));
        Tensor out = backend.tensor(tokens, config.hiddenSize());
        backend.linear(attended, w.o(), out);
        return out;
    }

    @Override
    protected Tensor mlp(int l, Tensor x) {
        Layer w = layers[l];
        return swiglu(x, w.gate(), w.up(), w.down());
    }

    @Override
    public KvLayout kvLayout() {
        return new KvLayout.Gqa(config.numLayers(), kvHeads, headDim);
    }

    @Override
    public long decodeBytesPerToken() {
        return weightBytes() - embeddingBytes() + embeddingRowBytes();
    }
}
