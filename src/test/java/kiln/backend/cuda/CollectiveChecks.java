package kiln.backend.cuda;

import kiln.backend.Backend;
import kiln.backend.RankGroup;
import kiln.backend.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.function.IntFunction;

/**
 * CudaKernelCheck's rows for the tensor-parallel collectives: every rank of a group (each on its own thread, as the
 * model's ranks run) all-reduces and all-gathers random tensors, and each rank's result is compared with the host's
 * rank-ordered float sum (rounded to bf16 once, as the sum kernel does) and the host's concatenation of the parts, as
 * they were stored. With virtual ranks the sums must be bit-identical to the host's; every rank must hold the same bits.
 */
final class CollectiveChecks {
    private CollectiveChecks() {}

    /** Runs {@code work(r)} for every rank on its own thread and returns the results in rank order. */
    static <T> List<T> onRanks(RankGroup group, IntFunction<T> work) {
        List<CompletableFuture<T>> fs = new ArrayList<>();
        for (int r = 0; r < group.size(); r++) {
            int rank = r;
            fs.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return work.apply(rank);
                } catch (RuntimeException | Error e) {
                    group.abort(e);
                    throw e;
                }
            }, task -> Thread.ofPlatform().daemon().name("check-rank-" + rank).start(task)));
        }
        List<T> out = new ArrayList<>();
        for (CompletableFuture<T> f : fs) out.add(f.join());
        return out;
    }

    private static float[] random(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) rnd.nextGaussian();
        return v;
    }

    /** float -> bf16 (round to nearest even) -> float, as __float2bfloat16_rn for finite values. */
    static float bf16(float f) {
        int b = Float.floatToRawIntBits(f);
        return Float.intBitsToFloat((b + 0x7FFF + ((b >>> 16) & 1)) & 0xFFFF0000);
    }

    /** All-reduce of [rows, cols] on every rank: against the host's rank-ordered sum of the stored inputs. */
    static void allReduce(CudaKernelCheck c, String name, RankGroup group, boolean bf16, int rows, int cols, boolean exact) {
        int n = group.size();
        Random rnd = new Random(31L * n + cols);
        float[][] in = new float[n][];
        for (int r = 0; r < n; r++) in[r] = random(rnd, rows * cols);
        // each rank: its input as stored (rounded to the activation type), then the reduced tensor
        List<float[][]> got = onRanks(group, r -> {
            Backend b = group.rank(r);
            Tensor t = b.upload(in[r], rows, cols);
            float[] stored = b.download(t);
            b.allReduceSum(t);
            return new float[][]{stored, b.download(t)};
        });
        float[] ref = new float[rows * cols];
        for (int i = 0; i < ref.length; i++) {
            float s = got.get(0)[0][i];
            for (int r = 1; r < n; r++) s += got.get(r)[0][i];
            ref[i] = bf16 ? bf16(s) : s;
        }
        String shape = n + " ranks [" + rows + ", " + cols + "]";
        for (int r = 0; r < n; r++) {
            if (exact) c.compareExact(name + " rank " + r, shape, ref, got.get(r)[1]);
            else c.compare(name + " rank " + r, shape, ref, got.get(r)[1], 1e-2);
        }
        if (!exact) for (int r = 1; r < n; r++) c.compareExact(name + " rank " + r + " = rank 0", shape, got.get(0)[1], got.get(r)[1]);
    }

    /** All-gather of [rows, w] parts into [rows, n * w] on every rank: against the host's placement of the stored parts. */
    static void allGather(CudaKernelCheck c, String name, RankGroup group, int rows, int w) {
        int n = group.size();
        Random rnd = new Random(17L * n + w);
        float[][] in = new float[n][];
        for (int r = 0; r < n; r++) in[r] = random(rnd, rows * w);
        List<float[][]> got = onRanks(group, r -> {
            Backend b = group.rank(r);
            Tensor part = b.upload(in[r], rows, w);
            Tensor out = b.tensor(rows, n * w);
            b.allGatherColumns(part, out);
            return new float[][]{b.download(part), b.download(out)};
        });
        float[] ref = new float[rows * n * w];
        for (int r = 0; r < n; r++) {
            for (int row = 0; row < rows; row++) System.arraycopy(got.get(r)[0], row * w, ref, row * n * w + r * w, w);
        }
        for (int r = 0; r < n; r++) c.compareExact(name + " rank " + r, n + " ranks [" + rows + ", " + w + "] parts", ref, got.get(r)[1]);
    }

    /** NCCL's broadcast from rank 0: every rank ends with rank 0's stored tensor. */
    static void broadcast(CudaKernelCheck c, String name, NcclRanks group, int rows, int cols) {
        Random rnd = new Random(5);
        float[][] in = new float[group.size()][];
        for (int r = 0; r < in.length; r++) in[r] = random(rnd, rows * cols);
        List<float[][]> got = onRanks(group, r -> {
            CudaBackend b = (CudaBackend) group.rank(r);
            Tensor t = b.upload(in[r], rows, cols);
            float[] stored = b.download(t);
            group.broadcast(r, (CudaTensor) t, 0);
            return new float[][]{stored, b.download(t)};
        });
        for (int r = 0; r < in.length; r++) c.compareExact(name + " rank " + r, in.length + " ranks [" + rows + ", " + cols + "]", got.get(0)[0], got.get(r)[1]);
    }
}
