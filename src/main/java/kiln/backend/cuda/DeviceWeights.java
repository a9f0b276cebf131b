package kiln.backend.cuda;

import kiln.backend.Weight;
import kiln.io.DType;
import kiln.io.TensorData;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Weights on the device, uploaded once in stored precision: f32 and bf16 as they are, f16 widened to f32, fp8
 * e4m3 with its float block scales (and, where cuBLASLt's FP8 GEMM reads them transposed, a transposed copy). Load-
 * time matrices (MLA's absorbed projections) take the activation precision; norm weights and biases stay float.
 */
final class DeviceWeights {
    private final CudaContext ctx;

    DeviceWeights(CudaContext ctx) {
        this.ctx = ctx;
    }

    /** A checkpoint weight [rows, cols]; {@code fp8Layout} is the FP8 GEMM probe's result (-1: not in use). */
    CudaWeight weight(TensorData data, TensorData scaleInv, int blockRows, int blockCols, int fp8Layout) {
        if (data.shape().length != 2) throw new IllegalArgumentException(data.describe() + ": expected a 2-D weight");
        int rows = data.dim(0), cols = data.dim(1);
        Transfers t = ctx.transfers;
        return ctx.device.call(() -> switch (data.dtype()) {
            case F32, BF16 -> new CudaWeight(data.dtype(), rows, cols, t.persist(data.data(), data.data().byteSize()), 0, 0, 0, 0,
                    data.data().byteSize(), 0);
            case F16 -> {
                float[] f = data.toFloatArray();
                yield new CudaWeight(DType.F32, rows, cols, t.persist(f), 0, 0, 0, 0, 4L * f.length, 0);
            }
            case F8_E4M3 -> {
                if (scaleInv == null) throw new IllegalArgumentException(data.describe() + ": FP8 weight without weight_scale_inv");
                if (blockCols != 128) {
                    throw new IllegalArgumentException(data.describe() + ": the CUDA backend needs FP8 blocks 128 columns wide, not " + blockCols);
                }
                int sr = CudaContext.ceilDiv(rows, blockRows), sc = CudaContext.ceilDiv(cols, blockCols);
                if (scaleInv.numel() != (long) sr * sc) {
                    throw new IllegalArgumentException(scaleInv.describe() + ": expected [" + sr + ", " + sc + "] block scales for " + data.describe());
                }
                float[] scales = scaleInv.toFloatArray();
                long sp = t.persist(scales);
                long lts = fp8Layout >= 0 && (fp8Layout & 1) != 0 && blockRows == 128 ? t.persist(transpose(scales, sr, sc)) : sp;
                yield new CudaWeight(DType.F8_E4M3, rows, cols, t.persist(data.data(), data.data().byteSize()), sp,
                        blockRows, blockCols, sc, data.data().byteSize() + 4L * scales.length, lts);
            }
            default -> throw new IllegalArgumentException(data.describe() + ": unsupported weight dtype for CUDA");
        });
    }

    /** A load-time matrix, kept in the activation precision. */
    CudaWeight matrix(float[] values, int rows, int cols) {
        if (values.length != (long) rows * cols) throw new IllegalArgumentException(values.length + " values for " + rows + "x" + cols);
        return ctx.device.call(() -> {
            if (!ctx.bf16()) return new CudaWeight(DType.F32, rows, cols, ctx.transfers.persist(values), 0, 0, 0, 0, 4L * values.length, 0);
            short[] b = new short[values.length];
            for (int i = 0; i < b.length; i++) b[i] = toBf16(values[i]);
            return new CudaWeight(DType.BF16, rows, cols, ctx.transfers.persist(MemorySegment.ofArray(b), 2L * b.length), 0, 0, 0, 0, 2L * b.length, 0);
        });
    }

    /** A norm weight, bias or score bias: float whatever the precision. */
    CudaWeight vector(float[] values) {
        return ctx.device.call(() -> new CudaWeight(DType.F32, 1, values.length, ctx.transfers.persist(values), 0, 0, 0, 0, 4L * values.length, 0));
    }

    /** One MoE layer's routed experts: device tables of their weight and scale pointers, so one launch serves all experts. */
    CudaMoe.Experts experts(List<Weight> gate, List<Weight> up, List<Weight> down) {
        int e = gate.size();
        if (e == 0 || up.size() != e || down.size() != e) throw new IllegalArgumentException("experts: " + gate.size() + "/" + up.size() + "/" + down.size() + " weights");
        CudaWeight g0 = (CudaWeight) gate.get(0);
        CudaWeight[] all = new CudaWeight[3 * e];
        long[] gp = new long[e], upp = new long[e], dp = new long[e], gs = new long[e], us = new long[e], ds = new long[e];
        for (int i = 0; i < e; i++) {
            CudaWeight g = (CudaWeight) gate.get(i), u = (CudaWeight) up.get(i), d = (CudaWeight) down.get(i);
            for (CudaWeight w : new CudaWeight[]{g, u, d}) {
                if (w.dtype() != g0.dtype()) throw new IllegalArgumentException("experts of one layer must share a dtype: " + w.dtype() + " vs " + g0.dtype());
            }
            if (g.rows() != g0.rows() || g.cols() != g0.cols() || u.rows() != g.rows() || u.cols() != g.cols()
                    || d.rows() != g.cols() || d.cols() != g.rows()) {
                throw new IllegalArgumentException("expert " + i + " has shapes gate " + g.rows() + "x" + g.cols() + ", up "
                        + u.rows() + "x" + u.cols() + ", down " + d.rows() + "x" + d.cols());
            }
            gp[i] = g.ptr();
            upp[i] = u.ptr();
            dp[i] = d.ptr();
            gs[i] = g.scales();
            us[i] = u.scales();
            ds[i] = d.scales();
            all[3 * i] = g;
            all[3 * i + 1] = u;
            all[3 * i + 2] = d;
        }
        boolean fp8 = g0.fp8();
        Transfers t = ctx.transfers;
        return ctx.device.call(() -> new CudaMoe.Experts(e, g0.dtype(), g0.rows(), g0.cols(), t.persist(gp), t.persist(upp), t.persist(dp),
                fp8 ? t.persist(gs) : 0, fp8 ? t.persist(us) : 0, fp8 ? t.persist(ds) : 0, fp8 ? g0.blockRows() : 1, all));
    }

    static float[] transpose(float[] v, int rows, int cols) {
        float[] t = new float[v.length];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) t[c * rows + r] = v[r * cols + c];
        return t;
    }

    /** float to bf16, rounding to nearest even; NaNs stay quiet NaNs. */
    static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) return (short) ((bits >>> 16) | 0x40);  // quiet NaN
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }
}
