package kiln.backend.cuda;

import kiln.backend.ForwardBatch;
import kiln.backend.Heads;
import kiln.backend.KvCache;
import kiln.backend.KvLayout;
import kiln.backend.cuda.AttentionKernels.PagedBatch;
import kiln.backend.cuda.AttentionKernels.Partials;
import kiln.backend.cuda.AttentionKernels.Shape;

/**
 * Attention over the paged KV cache: grouped-query attention (Llama, Qwen2), and MLA wherever its tensor-core
 * kernels do not apply (float32, other widths). Which kernel runs grouped-query attention:
 * <pre>
 *   bf16 extend batches {@link GqaPrefill} takes       mla_prefill.cuh over the gathered context (kiln.cuda.gqaPrefill)
 *   other bf16 batches, 16-byte aligned queries      gqa_attention_tc (mla_decode.cuh), splits of >= 64 keys (kiln.cuda.gqaTc)
 *   the rest, and all of float32                     attention.cuh's generic kernel
 * </pre>
 * Decode tokens are cut into KV splits merged by a combine; in float32 the split count is fixed, so a token's
 * result does not depend on its batch.
 */
final class PagedAttention {
    /** Most KV splits per decode token of the generic kernel and of mla_attention_tc (attention.cuh's combine). */
    static final int MAX_SPLITS = 16;
    /** Fewest keys per split of gqa_attention_tc: one key tile. */
    static final int GQA_TC_SPLIT_MIN = 64;

    private final CudaContext ctx;
    private final GqaPrefill gqaPrefill;

    PagedAttention(CudaContext ctx, GqaPrefill gqaPrefill) {
        this.ctx = ctx;
        this.gqaPrefill = gqaPrefill;
    }

    CudaKvCache cacheOf(KvCache cache, CudaBackend owner) {
        CudaKvCache c = (CudaKvCache) cache;
        if (c.backend() != owner) throw new IllegalArgumentException("KV cache belongs to another backend");
        return c;
    }

    /** Grouped-query attention: this step's k and v into the cache, then each query head over its kv head's entries. */
    void gqa(CudaKvCache c, int layer, Heads q, Heads k, Heads v, float scale, Heads out) {
        KvLayout.Gqa g = (KvLayout.Gqa) c.layout();
        int kvw = g.kvHeads() * g.headDim();
        if (q.count() % g.kvHeads() != 0 || q.width() != g.headDim()) {
            throw new IllegalArgumentException("attention: " + q.count() + " heads of " + q.width() + " for " + g);
        }
        ctx.op(() -> "attention " + q.count() + "h " + (ctx.batch().isDecode() ? "decode" : "extend") + " m=" + q.tensor().rows(), () -> {
            AttentionKernels.checkWidths(g.headDim(), g.headDim());
            store(c, layer, (CudaTensor) k.tensor().columns(k.column(0), kvw), 0);
            store(c, layer, (CudaTensor) v.tensor().columns(v.column(0), kvw), kvw);
            if (gqaPrefill.takes(g, q.count())) {  // extend batches in bf16: the tensor-core kernel over the gathered context
                gqaPrefill.attention(c, layer, q, scale, out);
                return;
            }
            DeviceHeads qh = DeviceHeads.of(ctx.check(q.tensor()), q), oh = DeviceHeads.of(ctx.check(out.tensor()), out);
            if (tensorCores(c, layer, g, qh, q.count(), scale, oh)) return;
            int headsPerKv = q.count() / g.kvHeads();
            Shape s = new Shape(q.count(), headsPerKv, AttentionKernels.blocksPerKv(headsPerKv), g.headDim(), 0, g.headDim(), c.layout().valuesPerToken(),
                    0, kvw, g.headDim());
            generic(c, layer, qh, new DeviceHeads(0, 0, 0), s, scale, oh);
        });
    }

    /** gqa_attention_tc where it applies (bf16, aligned queries, the switch on): false leaves the batch to the generic kernel. */
    private boolean tensorCores(CudaKvCache c, int layer, KvLayout.Gqa g, DeviceHeads q, int heads, float scale, DeviceHeads out) {
        int dim = g.headDim(), kvw = g.kvHeads() * dim, headsPerKv = heads / g.kvHeads();
        long entry = g.valuesPerToken();
        if (!ctx.flags.gqaTc() || !ctx.bf16() || !MlaDecodeKernels.fitsGqa(dim, entry, 0, kvw, dim) || q.ptr() % 16 != 0 || q.ld() % 8 != 0
                || q.stride() % 8 != 0) {
            return false;
        }
        ForwardBatch b = ctx.batch();
        int tokens = b.numTokens();
        int splits = splits(tokens, g.kvHeads() * CudaContext.ceilDiv(headsPerKv, MlaDecodeKernels.HEADS_PER_CTA), MlaDecodeKernels.MAX_SPLITS);
        long mark = ctx.arena.mark();
        Partials p = partials(tokens, heads, dim, splits);
        PagedBatch batch = PagedBatch.of(ctx.meta);
        ctx.mlaDecode.gqaAttentionTc(q, c.layer(layer), entry, heads, headsPerKv, dim, 0, kvw, dim, batch, scale, out, p, GQA_TC_SPLIT_MIN,
                b.isDecode(), tokens, splits);
        if (splits > 1) ctx.mlaDecode.combine2(batch.tokenVisible(), splits, heads, dim, p, out, GQA_TC_SPLIT_MIN, tokens);
        ctx.arena.release(mark);
        return true;
    }

    /** This step's rows of {@code src} into their slots, at column {@code at} of each cache entry. */
    private void store(CudaKvCache cache, int layer, CudaTensor src, int at) {
        ctx.elementwise.kvStore(ctx.precision, src.ptr(), src.ld(), src.cols(), ctx.meta.newSlots(), cache.layer(layer), cache.layout().valuesPerToken(),
                at, src.rows());
    }

    /**
     * Decode splits per token: float32 a fixed count (batch-invariant results); bf16 only as many as leave the
     * GPU busy (fewer partial results to keep), at most {@code most}.
     */
    int splits(int tokens, int blocksPerToken, int most) {
        if (!ctx.batch().isDecode()) return 1;
        if (!ctx.bf16()) return MAX_SPLITS;
        return Math.clamp(CudaContext.ceilDiv(2 * ctx.device.smCount, Math.max(1, tokens * blocksPerToken)), 1, most);
    }

    /** Partial results of {@code splits} splits per (token, head), in the arena; none for one split. */
    Partials partials(int tokens, int heads, int vd, int splits) {
        if (splits <= 1) return Partials.NONE;
        long units = (long) tokens * heads * splits;
        long acc = ctx.scratch(4L * units * vd, "attention partial sums");
        return new Partials(acc, ctx.scratch(8L * units, "attention partial maxima"));
    }

    /** attention.cuh's kernel (+ the split merge in decode), on the device thread; q2 of pointer 0 when keys have no second part. */
    void generic(CudaKvCache c, int layer, DeviceHeads q1, DeviceHeads q2, Shape s, float scale, DeviceHeads out) {
        AttentionKernels.checkWidths(s.kd1() + s.kd2(), s.vd());
        ForwardBatch b = ctx.batch();
        int tokens = b.numTokens(), kvHeads = s.heads() / s.headsPerKv();
        int splits = splits(tokens, s.blocksPerKv() * kvHeads, MAX_SPLITS);
        long mark = ctx.arena.mark();
        Partials p = partials(tokens, s.heads(), s.vd(), splits);
        PagedBatch batch = PagedBatch.of(ctx.meta);
        ctx.attention.attention(ctx.precision, c.dtype, q1, q2, c.layer(layer), s, batch, scale, out, p, tokens, splits);
        if (splits > 1) ctx.attention.combine(ctx.precision, batch.tokenVisible(), splits, s.heads(), s.vd(), p, out, tokens);
        ctx.arena.release(mark);
    }
}
