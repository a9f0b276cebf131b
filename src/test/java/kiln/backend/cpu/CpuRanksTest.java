package kiln.backend.cpu;

import kiln.backend.Backend;
import kiln.backend.GroupBrokenException;
import kiln.backend.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The collectives of in-process CPU ranks: what they compute, in which order, and how a failed rank ends them. */
class CpuRanksTest {
    /** Runs {@code work} on one thread per rank; returns each rank's result (or throws the first rank's failure). */
    private static <T> List<T> onRanks(int size, IntFunction<T> work) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(size);
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (int r = 0; r < size; r++) {
                int rank = r;
                futures.add(pool.submit(() -> work.apply(rank)));
            }
            List<T> out = new ArrayList<>();
            for (Future<T> f : futures) out.add(f.get(30, TimeUnit.SECONDS));
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void allReduceAddsInRankOrderAndEveryRankGetsTheSameBits() throws Exception {
        try (CpuRanks group = new CpuBackend().ranks(3)) {
            // 1e8 + 1 rounds back to 1e8 in float: rank order gives 0 where another order would give 1
            float[][] values = {{1e8f, 0.1f, 3f, 0f, 1f, 2f}, {1f, 0.2f, -3f, 0f, 1f, 2f}, {-1e8f, 0.3f, 1f, 5f, 1f, 2f}};
            List<float[]> sums = onRanks(3, r -> {
                Backend b = group.rank(r);
                Tensor t = b.upload(values[r], 2, 3);
                b.allReduceSum(t);
                return b.download(t);
            });
            float[] expected = new float[6];
            for (int i = 0; i < 6; i++) expected[i] = (values[0][i] + values[1][i]) + values[2][i];
            assertEquals(0f, expected[0]);
            for (float[] s : sums) assertArrayEquals(expected, s);
        }
    }

    @Test
    void allGatherPlacesEachRanksColumnsInRankOrder() throws Exception {
        try (CpuRanks group = new CpuBackend().ranks(3)) {
            int[] widths = {1, 3, 2};
            List<float[]> outs = onRanks(3, r -> {
                Backend b = group.rank(r);
                float[] part = new float[2 * widths[r]];
                for (int i = 0; i < part.length; i++) part[i] = 10 * r + i;
                Tensor out = b.tensor(2, 6);
                b.allGatherColumns(b.upload(part, 2, widths[r]), out);
                return b.download(out);
            });
            float[] expected = {0, 10, 11, 12, 20, 21, 1, 13, 14, 15, 22, 23};
            for (float[] o : outs) assertArrayEquals(expected, o);
        }
    }

    @Test
    void aBrokenGroupEndsTheOtherRanksCollectivesUntilReset() throws Exception {
        try (CpuRanks group = new CpuBackend().ranks(3)) {
            IllegalStateException fault = new IllegalStateException("rank 1 fault (test)");
            List<RuntimeException> thrown = onRanks(3, r -> {
                Backend b = group.rank(r);
                if (r == 1) {
                    group.abort(fault);
                    return fault;
                }
                try {
                    b.allReduceSum(b.upload(new float[]{r}, 1, 1));  // waits for rank 1, which never comes
                    return null;
                } catch (RuntimeException e) {
                    return e;
                }
            });
            // the ranks that waited throw, naming the failure that broke the group; so does a later collective
            for (int r : new int[]{0, 2}) assertEquals(fault, assertInstanceOf(GroupBrokenException.class, thrown.get(r)).getCause());
            Backend rank0 = group.rank(0);
            GroupBrokenException broken = assertThrows(GroupBrokenException.class,
                    () -> rank0.allReduceSum(rank0.upload(new float[]{1}, 1, 1)));
            assertEquals(fault, broken.getCause());

            group.reset();
            List<float[]> sums = onRanks(3, r -> {
                Backend b = group.rank(r);
                Tensor t = b.upload(new float[]{r + 1}, 1, 1);
                b.allReduceSum(t);
                return b.download(t);
            });
            for (float[] s : sums) assertArrayEquals(new float[]{6}, s);
        }
    }

    @Test
    void aRankAloneIsRankZeroOfOneAndItsCollectivesDoNothing() {
        CpuBackend b = new CpuBackend();
        assertEquals(0, b.tpRank());
        assertEquals(1, b.tpSize());
        Tensor t = b.upload(new float[]{1, 2}, 1, 2);
        b.allReduceSum(t);
        b.allGatherColumns(t, t);
        assertArrayEquals(new float[]{1, 2}, b.download(t));
    }
}
