package kiln.model;

import kiln.backend.Backend;
import kiln.backend.ForwardBatch;
import kiln.backend.KvCache;
import kiln.backend.KvLayout;
import kiln.backend.RankGroup;
import kiln.backend.Tensor;
import kiln.backend.cpu.CpuBackend;
import kiln.config.ConfigException;
import kiln.config.ModelConfig;
import kiln.engine.SimpleGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ranks driven as one model: their KV pools, and what one failing rank does to a forward and to the next. */
class TensorParallelModelTest {
    private static final Path QWEN = Fixture.ROOT.resolve("qwen2-tiny");

    /** Rank {@code rank}'s model, throwing (before any collective) on batches that hold token {@code poison}. */
    private static Model failingOn(int poison, Model m) {
        return new Model() {
            public ModelConfig config() { return m.config(); }
            public Backend backend() { return m.backend(); }
            public KvLayout kvLayout() { return m.kvLayout(); }
            public KvCache newKvCache(int slots) { return m.newKvCache(slots); }
            public long weightBytes() { return m.weightBytes(); }
            public long decodeBytesPerToken() { return m.decodeBytesPerToken(); }
            public void close() { m.close(); }

            public Tensor forward(ForwardBatch batch, KvCache cache) {
                for (int t : batch.tokens()) if (t == poison) throw new IllegalStateException("rank 1 fault (test)");
                return m.forward(batch, cache);
            }
        };
    }

    @Test
    @Timeout(60)
    void aFailedRankEndsTheForwardOnceAndTheNextForwardRuns() {
        ModelConfig c = ModelConfig.load(QWEN);
        RankGroup group = new CpuBackend().ranks(2);
        int poison = 999;
        try (Model tp = TensorParallelModel.load(group, r -> {
                Model m = Models.loadRank(c, QWEN, Models.LoadFormat.AUTO, group.rank(r));
                return r == 1 ? failingOn(poison, m) : m;
            });
             Model one = Models.load(QWEN, Models.LoadFormat.AUTO, new CpuBackend())) {
            try (var gen = new SimpleGenerator(tp, 64)) {
                // rank 0 runs its forward into the first all-reduce and waits there until rank 1's failure breaks the group
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> gen.step(List.of(gen.start(new int[]{5, poison, 7})), 0, false));
                assertEquals("rank 1 fault (test)", e.getMessage());
            }
            int[] prompt = {5, 6, 7, 8};
            float[] after, alone;
            try (var gen = new SimpleGenerator(tp, 64)) {
                after = gen.step(List.of(gen.start(prompt)), 0, false);
            }
            try (var gen = new SimpleGenerator(one, 64)) {
                alone = gen.step(List.of(gen.start(prompt)), 0, false);
            }
            int vocab = c.vocabSize();
            assertEquals(SimpleGenerator.argmax(alone, 0, vocab), SimpleGenerator.argmax(after, 0, vocab));
            for (int i = 0; i < vocab; i++) assertEquals(alone[i], after[i], 1e-4, "logit " + i);
        }
    }

    @Test
    void aBackendWithoutRanksRefusesTpBeforeLoading() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> Models.load(QWEN, Models.LoadFormat.AUTO, new kiln.backend.cpu.Bf16CpuBackend(false), 2));
        assertEquals("--tp 2: tensor parallelism on the cpu with bf16 storage simulated backend is not built yet; --device cpu runs it", e.getMessage());
    }

    @Test
    void everyRankGetsAPoolOfTheSameSlots() {
        try (Model tp = Models.load(Fixture.ROOT.resolve("llama-tiny"), Models.LoadFormat.AUTO, new CpuBackend(), 4);
             KvCache cache = tp.newKvCache(100)) {
            RankCaches ranks = (RankCaches) cache;
            assertEquals(100, cache.slots());
            // 2 key/value heads for 4 ranks: each rank caches the one head its query heads read
            for (int r = 0; r < 4; r++) assertEquals(new KvLayout.Gqa(3, 1, 32), ranks.rank(r).layout());
            assertEquals(4 * ranks.rank(0).bytes(), cache.bytes());
            assertEquals(3L * 2 * 32 * Float.BYTES, tp.kvBytesPerToken());
            assertTrue(tp.backend().name().contains("tp rank 0 of 4"), tp.backend().name());
            assertArrayEquals(new int[]{0, 4}, new int[]{tp.backend().tpRank(), tp.backend().tpSize()});
        }
    }

    /**
     * Dummy weights generated per rank (each rank only its piece): the embedded default model (FP8 blocks that split
     * at tp 2) at tp 2 gives the logits of tp 1 within the row-parallel layers' rounding.
     */
    @Test
    @Timeout(120)
    void dummyWeightsGeneratedPerRankGiveTheOneRankModelsLogits() {
        ModelConfig c = DefaultModel.config(null);
        int[] prompt = {5, 6, 7, 8, 9, 10};
        float[] one, two;
        try (Model m = Models.load(c, null, Models.LoadFormat.DUMMY, new CpuBackend(), 1); var gen = new SimpleGenerator(m, 64)) {
            one = gen.step(List.of(gen.start(prompt)), 0, false);
        }
        try (Model m = Models.load(c, null, Models.LoadFormat.DUMMY, new CpuBackend(), 2); var gen = new SimpleGenerator(m, 64)) {
            two = gen.step(List.of(gen.start(prompt)), 0, false);
        }
        int vocab = c.vocabSize();
        float largest = 0;
        for (int i = 0; i < vocab; i++) largest = Math.max(largest, Math.abs(one[i]));
        assertTrue(largest > 0);
        for (int i = 0; i < vocab; i++) assertEquals(one[i], two[i], 1e-4 * Math.max(1, largest), "logit " + i);
        assertEquals(SimpleGenerator.argmax(one, 0, vocab), SimpleGenerator.argmax(two, 0, vocab));
    }

    /** A rank loaded alone (kiln load --rank) holds what that rank of the group holds, and refuses to run a forward. */
    @Test
    @Timeout(120)
    void aRankLoadedAloneHoldsItsShareOfTheGroupAndRunsNoForward() {
        ModelConfig c = DefaultModel.config(null);
        long group;
        try (Model m = Models.load(c, null, Models.LoadFormat.DUMMY, new CpuBackend(), 2)) {
            group = m.weightBytes();
        }
        long whole;
        try (Model m = Models.load(c, null, Models.LoadFormat.DUMMY, new CpuBackend(), 1)) {
            whole = m.weightBytes();
        }
        try (Model r0 = Models.loadRankAlone(c, null, Models.LoadFormat.DUMMY, new CpuBackend(), new Shard(0, 2));
             Model r1 = Models.loadRankAlone(c, null, Models.LoadFormat.DUMMY, new CpuBackend(), new Shard(1, 2))) {
            assertEquals(group, r0.weightBytes() + r1.weightBytes());
            assertTrue(r0.weightBytes() < whole && r0.weightBytes() > whole / 2, r0.weightBytes() + " of " + whole);
            try (var gen = new SimpleGenerator(r1, 64)) {
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> gen.step(List.of(gen.start(new int[]{5, 6})), 0, false));
                assertTrue(e.getMessage().startsWith("rank 1 of 2 was loaded alone"), e.getMessage());
            }
        }
        assertThrows(IllegalArgumentException.class,
                () -> Models.loadRankAlone(c, null, Models.LoadFormat.DUMMY, new CpuBackend().ranks(2).rank(0), new Shard(0, 2)));
    }
}
