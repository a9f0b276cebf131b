package kiln.backend.cuda;

import kiln.backend.ForwardBatch;
import kiln.backend.Heads;
import kiln.backend.KvLayout;
import kiln.backend.MlaInputs;
import kiln.backend.MlaQuery;
import kiln.backend.Rope;
import kiln.backend.Tensor;
import kiln.backend.Weight;
import kiln.backend.cuda.AttentionKernels.PagedBatch;
import kiln.backend.cuda.AttentionKernels.Partials;
import kiln.backend.cuda.AttentionKernels.Shape;
import kiln.backend.cuda.FusedDecodeKernels.LatentNorm;
import kiln.backend.cuda.MlaDecodeKernels.NewEntries;
import kiln.io.DType;

/**
 * DeepSeek MLA in the absorbed form (decode, and prefill where the MHA form does not apply): the latent's norm
 * and the ropes (+ W_UK) in one launch for decode batches, attention over the latent cache, and W_UV. Which
 * attention kernel runs, in bf16:
 * <pre>
 *   decode, 16-byte aligned queries   mla_attention_tc2: splits of >= mlaSplitMin keys, this step's entries stored by
 *                                     the kernel; one token: W_UV merges the splits itself (gemv_heads_merge)
 *   other batches                     mla_attention_tc, splits of >= 256 keys
 *   shapes the tensor cores lack,     attention.cuh's generic kernel (PagedAttention)
 *   and all of float32
 * </pre>
 * Each has a form over an FP8 latent cache ({@code --kv-cache-dtype fp8_e4m3}), whose entries kv_store2 stores
 * before the attention launch.
 */
final class MlaDecode {
    private final CudaContext ctx;
    private final PagedAttention paged;
    private final ElementwiseOps elementwise;
    private final LinearLayers linear;

    MlaDecode(CudaContext ctx, PagedAttention paged, ElementwiseOps elementwise, LinearLayers linear) {
        this.ctx = ctx;
        this.paged = paged;
        this.elementwise = elementwise;
        this.linear = linear;
    }

    /** Can mla_norm_rope's blocks do this norm and rope pair (bf16 decode of up to 8 rows, 16-byte aligned rows)? */
    private boolean normRopeFits(CudaTensor x, CudaWeight w, CudaTensor out, Heads a, CudaTensor ta, Heads b, CudaTensor tb, int half) {
        return ctx.flags.fuseDecode() && ctx.bf16() && x.rows() <= 8 && x.rows() == ta.rows() && ta.rows() == tb.rows() && w.cols() == x.cols()
                && FusedDecodeKernels.normFits(x.cols()) && w.ptr() % 16 == 0 && ctx.aligned16(x) && ctx.aligned16(out)
                && a.width() == 2 * half && b.width() == 2 * half && half <= ElementwiseKernels.ROPE_MAX_HALF;
    }

    /** out = rmsNorm(x), then the ropes over a and b, in one launch; false when it does not fit (the caller composes them). */
    boolean normAndRope(Tensor x, Weight w, float eps, Tensor out, Heads a, Heads b, Rope rope) {
        CudaTensor xt = ctx.check(x), ot = ctx.check(out), ta = ctx.check(a.tensor()), tb = ctx.check(b.tensor());
        CudaWeight cw = (CudaWeight) w;
        if (!normRopeFits(xt, cw, ot, a, ta, b, tb, rope.invFreq().length)) return false;
        ctx.op(() -> "rmsnorm " + xt.cols() + " + rope " + a.count() + "+" + b.count() + "x" + a.width() + " m=" + xt.rows(), () ->
                ctx.fused.normRope(ElementwiseOps.ropeHeads(ta, a), ElementwiseOps.ropeHeads(tb, b), elementwise.ropeTable(rope),
                        latentNorm(xt, cw, eps, ot), xt.rows()));
        return true;
    }

    private static LatentNorm latentNorm(CudaTensor x, CudaWeight w, float eps, CudaTensor out) {
        return new LatentNorm(x.ptr(), x.ld(), w.ptr(), eps, out.ptr(), out.ld(), x.cols());
    }

    /** Norm, ropes and W_UK in one launch (mla_prepare); false when it does not fit (the caller composes them). */
    boolean absorbedInputs(MlaInputs in) {
        CudaTensor xt = ctx.check(in.latentIn()), ot = ctx.check(in.latentOut()), ta = ctx.check(in.qRope().tensor()), tb = ctx.check(in.kRope().tensor());
        CudaTensor qn = ctx.check(in.qNope().tensor()), ql = ctx.check(in.qLatent().tensor());
        CudaWeight cw = (CudaWeight) in.latentNorm(), uk = (CudaWeight) in.absorbKey();
        Heads qNope = in.qNope(), qLatent = in.qLatent();
        int half = in.rope().invFreq().length, heads = qNope.count(), m = qn.rows(), outWidth = qLatent.width();
        DeviceHeads qnh = DeviceHeads.of(qn, qNope), qlh = DeviceHeads.of(ql, qLatent);
        boolean fused = normRopeFits(xt, cw, ot, in.qRope(), ta, in.kRope(), tb, half) && m == xt.rows() && qNope.width() == 128 && ctx.flags.gemv2()
                && uk.dtype() == DType.BF16 && uk.cols() == 128 && uk.rows() == (long) heads * outWidth && qLatent.count() == heads
                && qnh.ptr() % 16 == 0 && qNope.stride() % 8 == 0 && qn.ld() % 8 == 0;
        if (!fused) return false;
        ctx.op(() -> "mla inputs: rmsnorm " + xt.cols() + " + rope + W_UK " + heads + "x128->" + outWidth + " m=" + m, () ->
                ctx.fused.prepare(m, qnh, uk.ptr(), qlh, outWidth, heads, ElementwiseOps.ropeHeads(ta, in.qRope()), ElementwiseOps.ropeHeads(tb, in.kRope()),
                        elementwise.ropeTable(in.rope()), latentNorm(xt, cw, in.eps(), ot)));
        return true;
    }

    /** MLA attention into {@code attended}, then W_UV into {@code values} when given (by the attention's own launches where they can). */
    void attention(CudaBackend owner, MlaQuery q, Heads attended, CudaWeight absorbValue, Heads values) {
        CudaKvCache c = paged.cacheOf(q.cache(), owner);
        KvLayout.Mla l = (KvLayout.Mla) c.layout();
        if (q.qLatent().width() != l.latentDim() || q.qRope().width() != l.ropeDim() || attended.width() != l.latentDim()
                || q.latent().cols() != l.latentDim() || q.keyRope().cols() != l.ropeDim()) {
            throw new IllegalArgumentException("mlaAttention: widths " + q.qLatent().width() + "/" + q.qRope().width() + ", entry parts "
                    + q.latent().cols() + "/" + q.keyRope().cols() + " for a cache of " + l);
        }
        boolean[] valuesDone = {false};
        ctx.op(() -> "mla_attention " + q.qLatent().count() + "h " + (ctx.batch().isDecode() ? "decode" : "extend") + " m=" + q.latent().rows(),
                () -> valuesDone[0] = attend(c, q, l, attended, absorbValue, values));
        if (values != null && !valuesDone[0]) linear.headLinear(attended, absorbValue, values);
    }

    /** The launches of {@link #attention} on the device thread: true when they computed the values too. */
    private boolean attend(CudaKvCache c, MlaQuery q, KvLayout.Mla l, Heads out, CudaWeight absorbValue, Heads values) {
        int heads = q.qLatent().count(), kd1 = l.latentDim(), kd2 = l.ropeDim(), vd = l.latentDim();
        AttentionKernels.checkWidths(kd1 + kd2, vd);
        CudaTensor latent = ctx.check(q.latent()), keyRope = ctx.check(q.keyRope());
        CudaTensor q1t = ctx.check(q.qLatent().tensor()), q2t = ctx.check(q.qRope().tensor()), ot = ctx.check(out.tensor());
        DeviceHeads q1 = DeviceHeads.of(q1t, q.qLatent()), q2 = DeviceHeads.of(q2t, q.qRope()), o = DeviceHeads.of(ot, out);
        ForwardBatch b = ctx.batch();
        int tokens = b.numTokens();
        long entry = l.valuesPerToken();
        boolean tensorCores = ctx.bf16() && ctx.flags.mlaTc() && MlaDecodeKernels.fits(kd1, kd2, entry);
        boolean smallBatch = tensorCores && ctx.flags.mlaSplit64() && b.isDecode() && q1.ptr() % 16 == 0 && q2.ptr() % 16 == 0 && q1t.ld() % 8 == 0
                && q2t.ld() % 8 == 0 && q1.stride() % 8 == 0 && q2.stride() % 8 == 0;
        // mla_attention_tc2 stores this step's entries itself when it can read them with 16-byte copies (into a bf16 cache)
        boolean storeInKernel = smallBatch && c.dtype != DType.F8_E4M3 && latent.ptr() % 16 == 0 && keyRope.ptr() % 16 == 0 && latent.ld() % 8 == 0 && keyRope.ld() % 8 == 0;
        if (!storeInKernel) {
            ctx.elementwise.kvStore2(ctx.precision, c.dtype, latent.ptr(), latent.ld(), latent.cols(), keyRope.ptr(), keyRope.ld(), keyRope.cols(),
                    ctx.meta.newSlots(), c.layer(q.layer()), entry, latent.rows());
        }
        if (!tensorCores) {
            Shape s = new Shape(heads, heads, AttentionKernels.blocksPerKv(heads), kd1, kd2, vd, entry, 0, 0, 0);
            paged.generic(c, q.layer(), q1, q2, s, q.scale(), o);
            return false;
        }
        int blocks = CudaContext.ceilDiv(heads, MlaDecodeKernels.HEADS_PER_CTA);
        int splits = paged.splits(tokens, blocks, smallBatch ? MlaDecodeKernels.MAX_SPLITS : PagedAttention.MAX_SPLITS);
        long mark = ctx.arena.mark();
        Partials p = paged.partials(tokens, heads, vd, splits);
        PagedBatch batch = PagedBatch.of(ctx.meta);
        boolean valuesDone = false;
        if (smallBatch) {
            int splitMin = ctx.flags.mlaSplitMin();
            NewEntries entries = storeInKernel ? new NewEntries(latent.ptr(), latent.ld(), keyRope.ptr(), keyRope.ld(), ctx.meta.newSlots())
                    : NewEntries.none(ctx.meta.newSlots());
            ctx.mlaDecode.attentionTc2(c.dtype, q1, q2, c.layer(q.layer()), entry, heads, kd1, kd2, batch, q.scale(), o, p, splitMin, entries, tokens, splits);
            valuesDone = splits > 1 && tokens == 1 && mergeIntoValues(out, absorbValue, values, heads, vd, splits, p);
            if (splits > 1 && !valuesDone) ctx.mlaDecode.combine2(batch.tokenVisible(), splits, heads, vd, p, o, splitMin, tokens);
        } else {
            ctx.mlaDecode.attentionTc(c.dtype, q1, q2, c.layer(q.layer()), entry, heads, kd1, kd2, batch, q.scale(), o, p, tokens, splits);
            if (splits > 1) ctx.attention.combine(ctx.precision, batch.tokenVisible(), splits, heads, vd, p, o, tokens);
        }
        ctx.arena.release(mark);
        return valuesDone;
    }

    /**
     * One decode token's W_UV straight from mla_attention_tc2's split results (gemv_heads_merge: each block merges
     * its head's splits as attention_combine2 would, then multiplies): false where the shapes do not fit it.
     */
    private boolean mergeIntoValues(Heads attended, CudaWeight w, Heads values, int heads, int latent, int splits, Partials p) {
        if (w == null || values == null || !ctx.flags.fuseDecode() || latent != 512 || w.fp8() || w.dtype() != DType.BF16 || w.cols() != latent
                || values.count() != heads || w.rows() != (long) heads * values.width()) {
            return false;
        }
        DeviceHeads a = DeviceHeads.of(ctx.check(attended.tensor()), attended), v = DeviceHeads.of(ctx.check(values.tensor()), values);
        if (a.ptr() % 16 != 0 || attended.stride() % 8 != 0) return false;
        int outWidth = values.width();
        ctx.gemv2.gemvHeadsMerge(a.ptr(), attended.stride(), w.ptr(), (long) outWidth * latent, v.ptr(), values.stride(), outWidth,
                ctx.meta.tokenVisible(), splits, ctx.flags.mlaSplitMin(), p, heads);
        return true;
    }
}
