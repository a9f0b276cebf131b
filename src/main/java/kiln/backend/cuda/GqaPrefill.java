package kiln.backend.cuda;

import kiln.backend.ForwardBatch;
import kiln.backend.Heads;
import kiln.backend.KvLayout;

/**
 * Grouped-query attention of extend batches (Llama, Qwen2 prefill) on the tensor cores: this step's keys and values
 * stored, each sequence's whole visible context gathered from the cache into contiguous rows [k | v], then
 * mla_prefill.cuh's FlashAttention-style kernel without a rope part (gqa_prefill_bf16_d*), query head h reading kv
 * head h / group. The generic kernel (attention.cuh) stays the path of decode batches, float32 and other widths.
 */
final class GqaPrefill {
    /** Largest gathered context (rows x kv values per row) one forward builds; beyond it the generic kernel runs. */
    static final long MAX_CONTEXT_VALUES = 1L << 27;

    private final CudaContext ctx;
    private final PrefillBlocks blocks;

    GqaPrefill(CudaContext ctx, PrefillBlocks blocks) {
        this.ctx = ctx;
        this.blocks = blocks;
    }

    /** Whether this step's attention over {@code g} takes the tensor-core prefill. */
    boolean takes(KvLayout.Gqa g, int heads) {
        ForwardBatch b = ctx.batch();
        return ctx.flags.gqaPrefill() && ctx.bf16() && !b.isDecode() && !ctx.capturing() && MlaPrefillKernels.supportsGqa(g.headDim())
                && heads % g.kvHeads() == 0 && b.contextTokens() * g.valuesPerToken() <= MAX_CONTEXT_VALUES
                && 2 * b.contextTokens() * g.valuesPerToken() + (1 << 20) <= ctx.arena.remaining();
    }

    /**
     * out = causal softmax(q k^T * scale) v per query head, k and v of this step already stored in the cache by
     * {@code store} (column 0: keys, column kvHeads * headDim: values).
     */
    void attention(CudaKvCache c, int layer, Heads q, float scale, Heads out) {
        KvLayout.Gqa g = (KvLayout.Gqa) c.layout();
        ForwardBatch b = ctx.batch();
        int entry = g.valuesPerToken(), kvw = g.kvHeads() * g.headDim(), heads = q.count();
        CudaTensor qt = ctx.check(q.tensor()), ot = ctx.check(out.tensor());
        DeviceHeads qh = DeviceHeads.of(qt, q), oh = DeviceHeads.of(ot, out);
        if (qh.ptr() % 16 != 0 || qh.ld() % 8 != 0 || qh.stride() % 8 != 0) {
            throw new IllegalArgumentException("gqa prefill: queries not 16-byte aligned (ld " + qh.ld() + ", head stride " + qh.stride() + ")");
        }
        int rows = (int) b.contextTokens();
        long mark = ctx.arena.mark();
        CudaTensor context = ctx.tensor(rows, entry);
        blocks.gatherContext(c, layer, context);
        DeviceHeads k = new DeviceHeads(context.ptr(), context.ld(), g.headDim()),
                v = new DeviceHeads(context.ptr() + (long) kvw * context.elementBytes(), context.ld(), g.headDim());
        long table = blocks.table();
        ctx.mlaPrefill.gqaPrefill(qh, k, v, heads / g.kvHeads(), table, (float) (scale / Math.log(2)), oh, heads, g.headDim(), blocks.blocks());
        ctx.arena.release(mark);
    }
}
