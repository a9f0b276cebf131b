package kiln.model;

import kiln.backend.Backend;
import kiln.backend.ForwardBatch;
import kiln.backend.KvCache;
import kiln.backend.Tensor;
import kiln.backend.Weight;
import kiln.config.ModelConfig;

/**
 * The decoder shape all supported architectures share: token embedding, pre-norm blocks
 * (x += attention(norm(x)); x += mlp(norm(x))), a final norm and the LM head, applied only to rows that need logits.
 * Subclasses supply the attention and MLP of one layer.
 *
 * <p>As one tensor-parallel rank (the backend's tpRank of tpSize), the model holds its {@link Shard}: attention and
 * MLP return this rank's partial sums (their output projections are row-parallel), completed here by one
 * all-reduce each; the LM head holds a slice of the vocabulary, and an all-gather puts the logits together on
 * every rank. The embedding, norms and residual stream are whole on every rank.
 */
abstract class CausalLm implements Model {
    protected final ModelConfig config;
    protected final Backend backend;
    protected final Shard shard;
    protected final Weights weights;
    private final Weight embed, finalNorm, lmHead;
    private final Weight[] inputNorm, postAttentionNorm;
    private long weightBytes;
    private ForwardBatch current;

    CausalLm(ModelConfig config, Weights weights) {
        this.config = config;
        this.backend = weights.backend();
        this.shard = weights.shard();
        this.weights = weights;
        int h = config.hiddenSize(), layers = config.numLayers(), vocab = config.vocabSize();
        embed = weights.dense("model.embed_tokens.weight", vocab, h);
        Split byVocabulary = Split.rows(vocab, "vocabulary rows");
        if (!config.tieWordEmbeddings()) lmHead = weights.dense("lm_head.weight", vocab, h, byVocabulary);
        else lmHead = shard.size() == 1 ? embed : weights.dense("model.embed_tokens.weight", vocab, h, byVocabulary);
        finalNorm = weights.norm("model.norm.weight", h);
        inputNorm = new Weight[layers];
        postAttentionNorm = new Weight[layers];
    }

    /** Loads every layer; called once by the subclass constructor after its own fields exist. */
    protected final void loadLayers() {
        int layers = config.numLayers();
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".";
            inputNorm[l] = weights.norm(p + "input_layernorm.weight", config.hiddenSize());
            postAttentionNorm[l] = weights.norm(p + "post_attention_layernorm.weight", config.hiddenSize());
            loadLayer(l, p);
            weights.layerLoaded(l + 1, layers);
        }
        weightBytes = weights.bytes();
    }

    protected abstract void loadLayer(int layer, String prefix);

    /** Attention's output projection: this rank's partial sum, all-reduced by the caller. */
    protected abstract Tensor attention(int layer, Tensor x, KvCache cache);

    /** The MLP's (or MoE's) output: this rank's partial sum, all-reduced by the caller. */
    protected abstract Tensor mlp(int layer, Tensor x);

    /** The batch of the forward in progress (for layers whose form depends on it, e.g. MLA prefill vs decode). */
    protected final ForwardBatch batch() {
        return current;
    }

    @Override
    public Tensor forward(ForwardBatch batch, KvCache cache) {
        if (shard.size() != backend.tpSize()) {
            throw new IllegalStateException("rank " + shard.rank() + " of " + shard.size() + " was loaded alone (Models.loadRankAlone, "
                    + "a load-only measurement) and runs no forward: its collectives have no other ranks");
        }
        backend.begin(batch);
        current = batch;
        int tokens = batch.numTokens(), h = config.hiddenSize();
        float eps = config.rmsNormEps();
        Tensor x = backend.tensor(tokens, h), normed = backend.tensor(tokens, h);
        backend.embed(embed, x);
        // Each layer's temporaries are released once its output has been added into x (by the next fused norm).
        long layerStart = backend.mark();
        Tensor pending = null;
        for (int l = 0; l < config.numLayers(); l++) {
            if (pending == null) {
                backend.rmsNorm(x, inputNorm[l], eps, normed);
            } else {
                backend.addRmsNorm(x, pending, inputNorm[l], eps, normed);
                backend.release(layerStart);
            }
            Tensor attended = attention(l, normed, cache);
            backend.allReduceSum(attended);
            backend.addRmsNorm(x, attended, postAttentionNorm[l], eps, normed);
            pending = mlp(l, normed);
            backend.allReduceSum(pending);
        }
        Tensor lastNormed;
        if (batch.logitsForEveryRow()) {
            // decode: every token's logits, so the last residual add goes into the final norm and nothing is gathered
            if (pending != null) backend.addRmsNorm(x, pending, finalNorm, eps, normed);
            else backend.rmsNorm(x, finalNorm, eps, normed);
            backend.release(layerStart);
            lastNormed = normed;
        } else {
            if (pending != null) {
                backend.add(x, pending);
                backend.release(layerStart);
            }
            Tensor last = backend.gatherRows(x, batch.logitRows());
            lastNormed = backend.tensor(last.rows(), h);
            backend.rmsNorm(last, finalNorm, eps, lastNormed);
        }
        // this rank's slice of the vocabulary, then every rank's slices side by side
        Tensor logits = backend.tensor(lastNormed.rows(), config.vocabSize());
        Tensor part = shard.size() == 1 ? logits : backend.tensor(lastNormed.rows(), lmHead.rows());
        backend.linear(lastNormed, lmHead, part);
        backend.allGatherColumns(part, logits);
        return logits;
    }

    /** out = down(silu(gate x) * up x). */
    protected final Tensor swiglu(Tensor x, Weight gate, Weight up, Weight down) {
        int inter = gate.rows();
        Tensor g = backend.tensor(x.rows(), inter);
        backend.siluGateUp(x, gate, up, g);
        Tensor out = backend.tensor(x.rows(), down.rows());
        backend.linear(g, down, out);
        return out;
    }

    protected final long embeddingRowBytes() {
        return embed.bytes() / config.vocabSize();
    }

    /** Bytes of the embedding table beyond the LM head (a decode step reads one row of it). */
    protected final long embeddingBytes() {
        return lmHead == embed ? 0 : embed.bytes();
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public Backend backend() {
        return backend;
    }

    @Override
    public long weightBytes() {
        return weightBytes;
    }

    @Override
    public void close() {
        weights.close();
    }
}
