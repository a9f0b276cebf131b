package kiln.backend;

import java.util.function.Supplier;

/** Mixture of experts: routing tokens to experts, the routed experts' SwiGLU, and their weighted sum. */
public interface MoeOps extends DenseOps {
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
    default Tensor concurrently(Supplier<Tensor> work) {
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

    /** The routed experts of one MoE layer, in the backend's layout. */
    interface Experts {
        int count();
    }
}
