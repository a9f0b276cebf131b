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
 */
final class Llama extends CausalLm {
    private record Layer(Weight q, Weight k, Weight v, Weight qBias, Weight kBias, Weight vBias, Weight o,
                         Weight gate, Weight up, Weight down) {}

    private final int heads, kvHeads, headDim;
    private final float scale;
    private final Rope rope;
    private final Layer[] layers;

    Llama(ModelConfig c, WeightSource source, Backend backend) {
        super(c, source, backend);
        heads = c.numHeads();
        kvHeads = c.numKvHeads();
        headDim = c.headDim();
        scale = (float) (1.0 / Math.sqrt(headDim));
        rope = Rotary.of(c, headDim, false);
        layers = new Layer[c.numLayers()];
        loadLayers();
    }

    @Override
    protected void loadLayer(int l, String p) {
        int h = config.hiddenSize(), inter = config.intermediateSize();
        String a = p + "self_attn.", m = p + "mlp.";
        boolean bias = config.qkvBias();
        layers[l] = new Layer(
                weights.linear(a + "q_proj.weight", heads * headDim, h),
                weights.linear(a + "k_proj.weight", kvHeads * headDim, h),
                weights.linear(a + "v_proj.weight", kvHeads * headDim, h),
                bias ? weights.bias(a + "q_proj.bias", heads * headDim) : null,
                bias ? weights.bias(a + "k_proj.bias", kvHeads * headDim) : null,
                bias ? weights.bias(a + "v_proj.bias", kvHeads * headDim) : null,
                weights.linear(a + "o_proj.weight", h, heads * headDim),
                weights.linear(m + "gate_proj.weight", inter, h),
                weights.linear(m + "up_proj.weight", inter, h),
                weights.linear(m + "down_proj.weight", h, inter));
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
