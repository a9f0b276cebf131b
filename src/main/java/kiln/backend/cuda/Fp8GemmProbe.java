package kiln.backend.cuda;

import kiln.Log;
import kiln.io.DType;

import java.lang.foreign.MemorySegment;
import java.util.Random;

/**
 * Finds out once whether cuBLASLt's block-scaled FP8 GEMM works here and which scale layouts it reads, by comparing
 * a small product against Kiln's own GEMM on the same fp8 weights. Activation quantisation costs a few percent; a
 * wrong layout costs far more, so a layout is used only when it agrees.
 */
final class Fp8GemmProbe {
    private final CudaContext ctx;
    private final CublasLt lt;

    Fp8GemmProbe(CudaContext ctx, CublasLt lt) {
        this.ctx = ctx;
        this.lt = lt;
    }

    /** The layout bits (bit 0: weight scales transposed, bit 1: activation scales row-fastest), or -1: FP8 weights take a bf16 copy. */
    int run() {
        int m = 64, n = 256, kk = 512, sr = n / 128, sc = kk / 128;
        Random r = new Random(7);
        float[] xv = new float[m * kk], scales = new float[sr * sc];
        byte[] codes = new byte[n * kk];
        for (int i = 0; i < xv.length; i++) xv[i] = (float) r.nextGaussian();
        for (int i = 0; i < codes.length; i++) codes[i] = (byte) (r.nextInt(2) << 7 | (3 + r.nextInt(8)) << 3 | r.nextInt(8));
        for (int i = 0; i < scales.length; i++) scales[i] = (float) ((0.25 + 2 * r.nextDouble()) / Math.sqrt(kk));
        Transfers t = ctx.transfers;
        try {
            CudaWeight w = new CudaWeight(DType.F8_E4M3, n, kk, t.persist(MemorySegment.ofArray(codes), codes.length), t.persist(scales), 128, 128, sc,
                    codes.length, 0);
            long transposed = t.persist(DeviceWeights.transpose(scales, sr, sc));
            CudaTensor x = t.upload(xv, m, kk), ref = ctx.tensor(m, n), out = ctx.tensor(m, n);
            ctx.gemm.gemmTc(x.ptr(), x.ld(), 0, GemmKernels.WeightArgs.of(w), 0, 0, ref.ptr(), ref.ld(), 0, m, n, kk, 1);
            float[] want = t.download(ref);
            double scale = 0;
            for (float v : want) scale = Math.max(scale, Math.abs(v));
            if (!(scale > 0)) {
                Log.warn("cuBLASLt FP8 probe: Kiln's own GEMM gave %s; block-scaled FP8 GEMM not used", scale == 0 ? "all zeros" : "NaN");
                return -1;
            }
            long xq = ctx.scratch((long) m * kk, "fp8 probe"), xs = ctx.scratch(4L * m * sc, "fp8 probe");
            StringBuilder tried = new StringBuilder();
            for (int layout = 0; layout < 4; layout++) {
                ctx.elementwise.quantFp8(x.ptr(), x.ld(), kk, xq, xs, m, m, (layout & 2) != 0);
                boolean ok = lt.fp8Matmul(new CublasLt.Key(CublasLt.CUDA_R_16BF, m, n, kk, kk, out.ld(), 1, 0, 0, 0), xq, xs, w.ptr(),
                        (layout & 1) != 0 ? transposed : w.scales(), out.ptr(), ctx.device.stream());
                if (!ok) {
                    Log.info("cuBLASLt block-scaled FP8 GEMM unavailable here; FP8 weights of large batches use a bf16 copy");
                    return -1;
                }
                float[] got = t.download(out);
                double worst = 0;
                for (int i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
                double rel = worst / Math.max(scale, 1e-30);
                tried.append(String.format(" layout %d: %.3g;", layout, rel));
                if (rel < 0.08) {
                    Log.info("cuBLASLt block-scaled FP8 GEMM in use (scale layout %d, probe error %.3g of the largest output)", layout, rel);
                    return layout;
                }
            }
            Log.warn("cuBLASLt block-scaled FP8 GEMM disagrees with Kiln's GEMM in every scale layout (%s); not used", tried);
        } catch (RuntimeException e) {
            Log.warn("cuBLASLt block-scaled FP8 GEMM probe failed (%s); not used", e.getMessage());
        } finally {
            ctx.arena.reset();
        }
        return -1;
    }
}
