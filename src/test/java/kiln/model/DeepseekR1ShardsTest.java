package kiln.model;

import kiln.config.ConfigException;
import kiln.config.ModelConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DeepSeek-R1's real dimensions (configs/deepseek-r1.json, no weights): at tp 2, 4, 8 and 16 every tensor's shard is
 * whole heads or rows, the ranks' shards tile the tensor, and every FP8 shard is made of whole 128x128 scale
 * blocks. The splits below mirror those {@code Deepseek} and {@code CausalLm} load with (TensorParallelFixtureTest
 * checks that those give the one-rank model's logits).
 */
class DeepseekR1ShardsTest {
    private static final ModelConfig R1 = ModelConfig.load(Path.of("configs", "deepseek-r1.json"));

    private record Tensor(String name, long[] shape, Split split, boolean fp8) {}

    /** Every distinct tensor of R1 (one dense layer and one MoE layer stand for all of their kind). */
    private static List<Tensor> tensors(ModelConfig c) {
        int h = c.hiddenSize(), heads = c.numHeads(), nope = c.qkNopeHeadDim(), rope = c.qkRopeHeadDim(), v = c.vHeadDim();
        int latent = c.kvLoraRank(), q = c.qLoraRank(), inter = c.intermediateSize(), moe = c.moeIntermediateSize();
        Split byHeads = Split.rows(heads, "heads");
        List<Tensor> t = new ArrayList<>();
        t.add(new Tensor("model.embed_tokens.weight", shape(c.vocabSize(), h), Split.WHOLE, false));
        t.add(new Tensor("lm_head.weight", shape(c.vocabSize(), h), Split.rows(c.vocabSize(), "vocabulary rows"), false));
        String a = "model.layers.0.self_attn.";
        t.add(new Tensor(a + "q_a_proj.weight", shape(q, h), Split.WHOLE, true));
        t.add(new Tensor(a + "q_b_proj.weight", shape(heads * (nope + rope), q), byHeads, true));
        t.add(new Tensor(a + "kv_a_proj_with_mqa.weight", shape(latent + rope, h), Split.WHOLE, true));
        t.add(new Tensor(a + "kv_b_proj.weight", shape(heads * (nope + v), latent), byHeads, true));
        t.add(new Tensor(a + "o_proj.weight", shape(h, heads * v), Split.columns(heads, "heads"), true));
        mlp(t, "model.layers.0.mlp.", inter, h);
        String m = "model.layers." + c.firstKDenseReplace() + ".mlp.";
        t.add(new Tensor(m + "gate.weight", shape(c.nRoutedExperts(), h), Split.WHOLE, false));
        mlp(t, m + "experts.0.", moe, h);
        mlp(t, m + "shared_experts.", moe * c.nSharedExperts(), h);
        return t;
    }

    private static void mlp(List<Tensor> t, String prefix, int inter, int h) {
        t.add(new Tensor(prefix + "gate_proj.weight", shape(inter, h), Split.rows(inter, "intermediate rows"), true));
        t.add(new Tensor(prefix + "up_proj.weight", shape(inter, h), Split.rows(inter, "intermediate rows"), true));
        t.add(new Tensor(prefix + "down_proj.weight", shape(h, inter), Split.columns(inter, "intermediate columns"), true));
    }

    private static long[] shape(long rows, long cols) {
        return new long[]{rows, cols};
    }

    @ParameterizedTest(name = "tp {0}")
    @ValueSource(ints = {2, 4, 8, 16})
    void everyShardIsWholeHeadsAndWhole128Blocks(int tp) {
        int[] block = R1.fp8BlockSize();
        assertEquals(128, block[0]);
        assertEquals(128, block[1]);
        for (Tensor t : tensors(R1)) {
            long next = 0;
            for (int r = 0; r < tp; r++) {
                Split.Piece p = t.split().piece(t.name(), t.shape(), new Shard(r, tp), t.fp8() ? block : null);
                long dim = t.shape()[p.axis()];
                if (t.split() instanceof Split.Whole) {
                    assertEquals(0, p.start(), t.name());
                    assertEquals(t.shape()[0], p.count(), t.name());
                    continue;
                }
                assertEquals(next, p.start(), t.name() + " rank " + r + ": shards do not tile the tensor");
                assertEquals(dim / tp, p.count(), t.name() + " rank " + r);
                next = p.start() + p.count();
                if (t.fp8()) {
                    int b = block[p.axis()];
                    assertTrue(p.start() % b == 0 && p.count() % b == 0, t.name() + " rank " + r + " of " + tp + ": [" + p.start()
                            + ", " + next + ") is not whole " + b + "-blocks");
                }
            }
            if (!(t.split() instanceof Split.Whole)) assertEquals(t.shape()[t.split() instanceof Split.Rows ? 0 : 1], next, t.name());
        }
    }

    @Test
    void tpBeyondWhatR1SplitsFailsNamingTheTensorAndTheTpValuesThatWork() {
        Tensor expertGate = tensors(R1).stream().filter(t -> t.name().endsWith("experts.0.gate_proj.weight")).findFirst().orElseThrow();
        ConfigException e = assertThrows(ConfigException.class,
                () -> expertGate.split().piece(expertGate.name(), expertGate.shape(), new Shard(1, 32), R1.fp8BlockSize()));
        assertEquals("--tp 32: model.layers.3.mlp.experts.0.gate_proj.weight [2048, 7168] (split by rows in 2048 intermediate rows) "
                + "is stored FP8 with 128x128 scale blocks, which shards of 64 rows would cut; "
                + "tp values that keep whole blocks: 1, 2, 4, 8, 16", e.getMessage());

        Tensor qB = tensors(R1).stream().filter(t -> t.name().endsWith("q_b_proj.weight")).findFirst().orElseThrow();
        ConfigException uneven = assertThrows(ConfigException.class,
                () -> qB.split().piece(qB.name(), qB.shape(), new Shard(0, 3), R1.fp8BlockSize()));
        assertEquals("--tp 3: model.layers.0.self_attn.q_b_proj.weight [24576, 1536] (split by rows in 128 heads) cannot be shared "
                + "evenly by 3 ranks; --tp must divide 128: 1, 2, 4, 8, 16, 32, 64, 128", uneven.getMessage());
    }

    @Test
    void keyValueHeadsAreSharedWhenTpExceedsThem() {
        Split kv = Split.kvHeadRows(2);
        long[] shape = {2 * 128, 4096};
        List<Long> starts = new ArrayList<>();
        for (int r = 0; r < 8; r++) {
            Split.Piece p = kv.piece("k_proj.weight", shape, new Shard(r, 8), new int[]{128, 128});
            assertEquals(128, p.count());
            starts.add(p.start());
        }
        // ranks 0-3 hold key/value head 0, ranks 4-7 head 1: the heads their query heads read
        assertEquals(List.of(0L, 0L, 0L, 0L, 128L, 128L, 128L, 128L), starts);
        assertThrows(ConfigException.class, () -> kv.piece("k_proj.weight", shape, new Shard(0, 3), null));
    }
}
