package kiln.backend;

/**
 * Absorbed MLA's inputs, as {@link AttentionOps#mlaAbsorbedInputs} makes them from the q and kv_a projections: the
 * latent's RMSNorm ({@code latentIn} with {@code latentNorm} and {@code eps} into {@code latentOut}), the rope over
 * the query and key rope parts ({@code qRope}, {@code kRope}), and each head's W_UK ({@code absorbKey}, stacked
 * [heads * latent, nope]) from {@code qNope} into {@code qLatent}.
 */
public record MlaInputs(Tensor latentIn, Weight latentNorm, float eps, Tensor latentOut, Heads qRope, Heads kRope, Rope rope, Heads qNope,
                        Weight absorbKey, Heads qLatent) {}
