package kiln.backend;

/**
 * One layer's MLA attention in the absorbed form, as {@link AttentionOps#mlaAttention} takes it: this step's cache
 * entries ({@code latent}, the normalised c_kv, and {@code keyRope}, the rotated shared key) go into {@code layer}
 * of {@code cache}, then each query head scores the sequence's entries with
 * {@code scale * (qLatent . c_kv + qRope . k_rope)}.
 */
public record MlaQuery(KvCache cache, int layer, Heads qLatent, Heads qRope, Tensor latent, Tensor keyRope, float scale) {}
