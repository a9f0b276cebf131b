package kiln.backend.cuda;

import kiln.backend.MoeRouting;

/**
 * Launchers of moe.cuh's entry points: routing (router logits to top-k expert ids and weights per token), the
 * alignment of the (token, choice) pairs into tiles of one expert for the grouped kernels, and the weighted sum of
 * the expert outputs per token. All of it on the device, so a decode step needs no host round trip.
 */
final class MoeKernels {
    /** Most experts and choices per token the routing takes; groups the one-block route + align takes when group-limited. */
    static final int MAX_EXPERTS = 512, MAX_TOP_K = 16, MAX_ALIGN_GROUPS = 32;
    /** Tokens one route + align block takes (MOE_RA_WARPS: a warp per token). */
    static final int ROUTE_ALIGN_MAX_TOKENS = 8;

    /**
     * How experts are chosen, as the kernels take it: sigmoid or softmax scores, the score bias (0: none), the
     * group limit, normalisation and the scaling factor.
     */
    record Gate(int experts, int topK, boolean sigmoid, long bias, int groups, int topkGroups, boolean groupLimited, boolean normalize,
                float scaling) {
        static Gate of(MoeRouting r, long bias) {
            return new Gate(r.experts(), r.topK(), r.scoring() == MoeRouting.Scoring.SIGMOID, bias, r.groups(), r.topkGroups(),
                    r.method() == MoeRouting.Method.GROUP_LIMITED, r.normalize(), r.scalingFactor());
        }

        KernelLauncher.Launch append(KernelLauncher.Launch l) {
            return l.i32(experts).i32(topK).i32(sigmoid ? 1 : 0).ptr(bias).i32(groups).i32(topkGroups).i32(groupLimited ? 1 : 0)
                    .i32(normalize ? 1 : 0).f32(scaling);
        }
    }

    private final KernelLauncher k;

    MoeKernels(KernelLauncher k) {
        this.k = k;
    }

    /** ids and weights [tokens * topK] from router logits [tokens, experts]; a block per token. */
    void route(Precision act, long logits, long ldl, Gate gate, long ids, long weights, int tokens) {
        gate.append(k.fn("moe_route_" + act.suffix).ptr(logits).i64(ldl)).ptr(ids).ptr(weights).launch(tokens, 256);
    }

    /** route and then align into tiles of {@code a.tileRows()} rows, in one block (up to 8 tokens: a warp each). */
    void routeAlign(Precision act, long logits, long ldl, int tokens, Gate gate, long ids, long weights, CudaMoe.Alignment a) {
        alignment(gate.append(k.fn("moe_route_align_" + act.suffix).ptr(logits).i64(ldl).i32(tokens)).ptr(ids).ptr(weights), a)
                .launch(1, 1, 1, 256, 0);
    }

    /** moe_align's outputs in the order the route + align kernels take them: tile rows, order, positions, tiles. */
    static KernelLauncher.Launch alignment(KernelLauncher.Launch l, CudaMoe.Alignment a) {
        return GemmKernels.tiles(l.i32(a.tileRows()).ptr(a.perm()).ptr(a.inv()), a);
    }

    /** Counts per expert, the expert-sorted order of the {@code assignments} pairs and the tile table, in one block. */
    void align(long ids, int assignments, CudaMoe.Alignment a) {
        GemmKernels.tiles(k.fn("moe_align_k").ptr(ids).i32(assignments).i32(a.experts()).i32(a.tileRows()).ptr(a.perm()).ptr(a.inv()), a)
                .launch(1, 1024);
    }

    /**
     * out[t] = sum over choices j (in order) of weight(t, j) * y[inv[t * topK + j]] (+ plus[t]); {@code earlyRouting}:
     * y comes from a kernel whose launch implies the routing has finished, so the combine reads it before its wait.
     */
    void combine(Precision act, long y, long ldy, long inv, long weights, int topK, int cols, long out, long ldo, long plus, long ldp,
                 boolean earlyRouting, int tokens) {
        k.fn("moe_combine_" + act.suffix).ptr(y).i64(ldy).ptr(inv).ptr(weights).i32(topK).i32(cols).ptr(out).i64(ldo).ptr(plus).i64(ldp)
                .i32(earlyRouting ? 1 : 0).launch(tokens, (cols + 255) / 256, 1, 256, 0);
    }
}
