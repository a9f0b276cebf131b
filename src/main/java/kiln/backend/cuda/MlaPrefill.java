package kiln.backend.cuda;

import kiln.backend.ForwardBatch;
import kiln.backend.Heads;
import kiln.backend.KvCache;
import kiln.backend.KvLayout;
import kiln.backend.Tensor;


/**
 * DeepSeek MLA prefill in the MHA form (bf16): this step's entries stored and each sequence's whole visible context
 * gathered from the cache (the model expands it into per-head k_nope and v), then mla_prefill.cuh's kernel over the
 * batch's block table ({@link PrefillBlocks}).
 */
final class MlaPrefill {
    private final CudaContext ctx;
    private final PagedAttention paged;
    private final PrefillBlocks blocks;

    MlaPrefill(CudaContext ctx, PagedAttention paged, PrefillBlocks blocks) {
        this.ctx = ctx;
        this.paged = paged;
        this.blocks = blocks;
    }

    boolean wants(int nope, int rope, int vDim) {
        return ctx.flags.mhaPrefill() && ctx.bf16() && MlaPrefillKernels.supports(nope, rope, vDim);
    }

    void storeGather(CudaBackend owner, KvCache cache, int layer, Tensor latent, Tensor keyRope, Tensor out) {
        CudaKvCache c = paged.cacheOf(cache, owner);
        KvLayout.Mla l = (KvLayout.Mla) c.layout();
        CudaTensor lat = ctx.check(latent), kr = ctx.check(keyRope), o = ctx.check(out);
        long rows = ctx.batch().contextTokens();
        if (lat.cols() != l.latentDim() || kr.cols() != l.ropeDim() || o.cols() != l.valuesPerToken() || o.rows() != rows) {
            throw new IllegalArgumentException("mlaStoreGather: widths " + lat.cols() + "/" + kr.cols() + " -> " + o.rows() + "x" + o.cols()
                    + " for " + rows + " context rows of " + l);
        }
        ctx.op(() -> "mla_store_gather m=" + lat.rows() + " ctx=" + rows, () -> {
            long entry = l.valuesPerToken();
            ctx.elementwise.kvStore2(ctx.precision, c.dtype, lat.ptr(), lat.ld(), lat.cols(), kr.ptr(), kr.ld(), kr.cols(), ctx.meta.newSlots(), c.layer(layer),
                    entry, lat.rows());
            blocks.gatherContext(c, layer, o);
        });
    }

    void attention(Heads qNope, Heads qRope, Heads kNope, Tensor kRope, Heads v, float scale, Heads out) {
        if (!ctx.bf16()) throw new IllegalArgumentException("mlaPrefillAttention: bf16 activations only (this backend: " + ctx.precision + ")");
        int heads = qNope.count();
        if (!MlaPrefillKernels.supports(qNope.width(), qRope.width(), v.width()) || kNope.width() != qNope.width() || kRope.cols() != qRope.width()
                || out.width() != v.width()) {
            throw new IllegalArgumentException("mlaPrefillAttention: widths q " + qNope.width() + "+" + qRope.width() + ", k " + kNope.width() + "+"
                    + kRope.cols() + ", v " + v.width() + ", out " + out.width() + "; the kernel takes nope " + MlaPrefillKernels.NOPE + ", rope "
                    + MlaPrefillKernels.ROPE + ", v " + MlaPrefillKernels.V);
        }
        if (qRope.count() != heads || kNope.count() != heads || v.count() != heads || out.count() != heads) {
            throw new IllegalArgumentException("mlaPrefillAttention: head counts " + heads + "/" + qRope.count() + "/" + kNope.count() + "/" + v.count() + "/" + out.count());
        }
        ForwardBatch b = ctx.batch();
        long rows = b.contextTokens();
        CudaTensor qn = ctx.check(qNope.tensor()), qr = ctx.check(qRope.tensor()), kn = ctx.check(kNope.tensor()), krt = ctx.check(kRope),
                vt = ctx.check(v.tensor()), ot = ctx.check(out.tensor());
        if (kn.rows() != rows || krt.rows() != rows || vt.rows() != rows || qn.rows() != b.numTokens() || ot.rows() != b.numTokens()) {
            throw new IllegalArgumentException("mlaPrefillAttention: " + kn.rows() + "/" + krt.rows() + "/" + vt.rows() + " key/rope/value rows for "
                    + rows + " context rows, " + qn.rows() + " query rows for " + b.numTokens() + " tokens");
        }
        DeviceHeads qnh = DeviceHeads.of(qn, qNope), qrh = DeviceHeads.of(qr, qRope), knh = DeviceHeads.of(kn, kNope), vh = DeviceHeads.of(vt, v);
        // 16-byte cp.async chunks: every row start and head start on a 16-byte boundary
        long[] ptrs = {qnh.ptr(), qrh.ptr(), knh.ptr(), krt.ptr(), vh.ptr()};
        long[] strides = {qn.ld(), qNope.stride(), qr.ld(), qRope.stride(), kn.ld(), kNope.stride(), krt.ld(), vt.ld(), v.stride()};
        for (long p : ptrs) if (p % 16 != 0) throw new IllegalArgumentException("mlaPrefillAttention: operand not 16-byte aligned");
        for (long st : strides) if (st % 8 != 0) throw new IllegalArgumentException("mlaPrefillAttention: row or head stride " + st + " not a multiple of 8");
        ctx.op(() -> "mla_prefill_mha " + heads + "h m=" + b.numTokens() + " ctx=" + rows, () -> {
            if (b.numTokens() == 0) return;
            long table = blocks.table();
            ctx.mlaPrefill.prefill(qnh, qrh, knh, krt.ptr(), krt.ld(), vh, table, (float) (scale / Math.log(2)), DeviceHeads.of(ot, out), heads,
                    blocks.blocks());
        });
    }
}
