package kiln.backend;

/**
 * The dense operations every model layer uses: embedding, norms, residual adds, linear layers, per-head matrices,
 * ropes and SwiGLU. Fused forms (linearPair, siluGateUp, rmsNormAndRope, ...) have a default that composes the plain
 * ops: the readable reference a device's one-launch version is checked against.
 */
public interface DenseOps extends TensorOps {
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
}
