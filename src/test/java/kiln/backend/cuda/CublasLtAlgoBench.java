package kiln.backend.cuda;

import java.util.List;

/**
 * Times every block-scaled FP8 algorithm cuBLASLt's heuristic offers (up to eight, best-estimated first) at R1's
 * shapes and 16-512 rows, each replayed from a CUDA graph, so the GPU's time alone is compared. Kiln takes the
 * first answer; this says what the others would cost, and what each answer is (tile, stages, cluster, split-K).
 * The operands are constant bytes: the GEMM's time does not depend on their values. Activation quantisation is not
 * included (the "fp8 linear graphed" rows of CudaBench's fp8 section include it).
 */
final class CublasLtAlgoBench {
    private static final int[][] SHAPES = {{24576, 1536}, {18432, 7168}, {7168, 16384}, {2048, 7168}};
    private static final int[] ROWS = {16, 32, 64, 128, 256, 512};
    private static final long WORKSPACE = 32L << 20;
    private static final byte FP8_ONE = 0x38, SCALE_BYTE = 0x3C;  // e4m3 1.0; floats of 0x3C3C3C3C, about 0.0115

    private final CudaBench.Recorder out;

    CublasLtAlgoBench(CudaBench.Recorder out) {
        this.out = out;
    }

    void run() {
        try (CudaBackend g = new CudaBackend(CudaOptions.defaults().withPrecision(Precision.BFLOAT16).withActivationBytes(256L << 20))) {
            CudaDevice d = g.device();
            d.run(() -> {
                long workspace = Driver.alloc(WORKSPACE);
                try (CublasLt lt = new CublasLt(workspace, WORKSPACE)) {
                    for (int[] s : SHAPES) shape(g, lt, s[0], s[1]);
                } finally {
                    Driver.free(workspace);
                }
            });
        }
    }

    private void shape(CudaBackend g, CublasLt lt, int n, int k) {
        int maxRows = ROWS[ROWS.length - 1];
        var stream = g.device().stream();
        long w = Driver.alloc((long) n * k), ws = Driver.alloc(4L * (n / 128) * (k / 128));
        long xq = Driver.alloc((long) maxRows * k), xs = Driver.alloc(4L * maxRows * (k / 128)), y = Driver.alloc(2L * maxRows * n);
        try {
            Driver.memset(w, FP8_ONE, (long) n * k, stream);
            Driver.memset(xq, FP8_ONE, (long) maxRows * k, stream);
            Driver.memset(ws, SCALE_BYTE, 4L * (n / 128) * (k / 128), stream);
            Driver.memset(xs, SCALE_BYTE, 4L * maxRows * (k / 128), stream);
            for (int m : ROWS) {
                CublasLt.Key key = new CublasLt.Key(CublasLt.CUDA_R_16BF, m, n, k, k, n, 1, 0, 0, 0);
                List<CublasLt.Algo> algos = lt.fp8Algos(key);
                System.out.printf("[lt-algos] %dx%d->%d: %d answers%n", m, k, n, algos.size());
                for (CublasLt.Algo a : algos) {
                    String shape = m + "x" + k + "->" + n;
                    try {
                        Runnable gemm = () -> lt.fp8Matmul(key, a.rank(), xq, xs, w, ws, y, stream);
                        gemm.run();
                        double ms = CudaBench.graphMs(g, gemm, 20);
                        out.record("kernel", "fp8 lt " + a, shape, ms, (double) n * k + 2.0 * m * (n + k), 2.0 * m * n * k,
                                "\"rank\":" + a.rank() + ",\"tile\":" + a.tile() + ",\"stages\":" + a.stages() + ",\"cluster\":" + a.cluster()
                                        + ",\"splitk\":" + a.splitK());
                    } catch (RuntimeException e) {
                        System.out.printf("[lt-algos] %s %s failed: %s%n", shape, a, e.getMessage());
                        Driver.synchronize(stream, "after a failed algorithm");
                    }
                }
            }
        } finally {
            Driver.synchronize(stream, "lt-algos shape");
            for (long p : new long[]{w, ws, xq, xs, y}) Driver.free(p);
        }
    }
}
