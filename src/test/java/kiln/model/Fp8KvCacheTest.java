package kiln.model;

import kiln.backend.ForwardBatch;
import kiln.backend.KvCache;
import kiln.backend.KvLayout;
import kiln.backend.MlaQuery;
import kiln.backend.Tensor;
import kiln.backend.cpu.CpuBackend;
import kiln.engine.SimpleGenerator;
import kiln.io.Fp8;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * MLA's latent cache in FP8 e4m3 on the CPU ({@code --kv-cache-dtype fp8_e4m3}): entries are stored rounded to
 * e4m3 (nearest, ties to even, saturating), attention over them equals attention over a float cache holding the
 * same rounded values, and whole models follow transformers' greedy output up to the first step whose margin is
 * within the rounding's effect on the logits.
 */
class Fp8KvCacheTest {
    private static final int LATENT = 32, ROPE = 16;

    private static float[] normal(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    private static float[] e4m3(float[] v) {
        float[] q = new float[v.length];
        for (int i = 0; i < v.length; i++) q[i] = Fp8.toFloat(Fp8.fromFloat(v[i]));
        return q;
    }

    /** Sequences of (cached, new) tokens over shuffled slots of a 600-slot pool; the first batch stores the prefixes. */
    private static List<ForwardBatch> batches(Random r) {
        int[][] seqs = {{0, 40}, {30, 1}, {100, 7}, {0, 1}};
        int[] order = IntStream.range(0, 600).toArray();
        for (int i = order.length - 1; i > 0; i--) {
            int j = r.nextInt(i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        List<ForwardBatch.Seq> first = new ArrayList<>(), second = new ArrayList<>();
        int at = 0, a = 0, b = 0;
        for (int[] s : seqs) {
            int[] slots = Arrays.copyOfRange(order, at, at + s[0] + s[1]);
            at += slots.length;
            if (s[0] > 0) {
                first.add(new ForwardBatch.Seq(a, s[0], 0, slots));
                a += s[0];
            }
            second.add(new ForwardBatch.Seq(b, s[1], s[0], slots));
            b += s[1];
        }
        return List.of(new ForwardBatch(new int[a], new int[a], first, new int[]{a - 1}), new ForwardBatch(new int[b], new int[b], second, new int[]{b - 1}));
    }

    @Test
    void storedEntriesReadBackAsTheirE4m3Values() {
        Random r = new Random(3);
        try (CpuBackend g = new CpuBackend(false, true); KvCache cache = g.kvCache(new KvLayout.Mla(1, LATENT, ROPE), 600)) {
            for (ForwardBatch b : batches(r)) {
                g.begin(b);
                int n = b.numTokens(), rows = b.contextTokens();
                float[] lat = normal(r, n * LATENT), kr = normal(r, n * ROPE);
                kr[0] = 1000f;  // past e4m3's largest value: saturates to 448
                Tensor out = g.tensor(rows, LATENT + ROPE);
                g.mlaStoreGather(cache, 0, g.upload(lat, n, LATENT), g.upload(kr, n, ROPE), out);
                float[] got = g.download(out), want = new float[rows * (LATENT + ROPE)];
                float[] qLat = e4m3(lat), qKr = e4m3(kr);
                assertEquals(448f, qKr[0]);
                // the context rows of each sequence: its cached entries (from the first batch) then its new ones
                int row = 0, fresh = 0;
                for (ForwardBatch.Seq s : b.seqs()) {
                    row += s.cachedTokens();
                    for (int i = 0; i < s.newTokens(); i++, row++, fresh++) {
                        System.arraycopy(qLat, fresh * LATENT, want, row * (LATENT + ROPE), LATENT);
                        System.arraycopy(qKr, fresh * ROPE, want, row * (LATENT + ROPE) + LATENT, ROPE);
                    }
                }
                row = 0;
                for (ForwardBatch.Seq s : b.seqs()) {
                    for (int j = s.cachedTokens(); j < s.totalTokens(); j++) {
                        int at = (row + j) * (LATENT + ROPE);
                        assertArrayEquals(Arrays.copyOfRange(want, at, at + LATENT + ROPE), Arrays.copyOfRange(got, at, at + LATENT + ROPE));
                    }
                    row += s.totalTokens();
                }
            }
        }
    }

    @Test
    void attentionOverAnFp8CacheEqualsAFloatCacheHoldingTheSameValues() {
        int heads = 4;
        Random r = new Random(5);
        List<ForwardBatch> batches = batches(r);
        List<float[][]> inputs = new ArrayList<>();
        for (ForwardBatch b : batches) {
            int n = b.numTokens();
            inputs.add(new float[][]{normal(r, n * heads * LATENT), normal(r, n * heads * ROPE), e4m3(normal(r, n * LATENT)), e4m3(normal(r, n * ROPE))});
        }
        // the prefixes' latents run through every finite code (zero, subnormals, normals to +-448), so each is widened
        float[] codes = inputs.getFirst()[2];
        for (int i = 0, c = 0; i < codes.length; i++, c = (c + 1) % 256) {
            if ((c & 0x7F) == 0x7F) c = (c + 1) % 256;  // the NaN codes
            codes[i] = Fp8.toFloat((byte) c);
        }
        List<float[]> outs = new ArrayList<>();
        for (boolean fp8 : new boolean[]{false, true}) {
            try (CpuBackend g = new CpuBackend(false, fp8); KvCache cache = g.kvCache(new KvLayout.Mla(1, LATENT, ROPE), 600)) {
                for (int i = 0; i < batches.size(); i++) {
                    ForwardBatch b = batches.get(i);
                    float[][] in = inputs.get(i);
                    int n = b.numTokens();
                    g.begin(b);
                    Tensor out = g.tensor(n, heads * LATENT);
                    g.mlaAttention(new MlaQuery(cache, 0, g.upload(in[0], n, heads * LATENT).heads(heads, LATENT),
                            g.upload(in[1], n, heads * ROPE).heads(heads, ROPE), g.upload(in[2], n, LATENT), g.upload(in[3], n, ROPE), 0.3f),
                            out.heads(heads, LATENT));
                    outs.add(g.download(out));
                }
            }
        }
        for (int i = 0; i < batches.size(); i++) {
            float[] f32 = outs.get(i), fp8 = outs.get(batches.size() + i);
            for (int k = 0; k < f32.length; k++) assertEquals(f32[k], fp8[k], 1e-5 * Math.max(1, Math.abs(f32[k])), "batch " + i + " value " + k);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"deepseek-v3-tiny", "deepseek-v2-lite-tiny", "deepseek-v3-tiny-fp8"})
    void greedyOutputFollowsTransformersUpToTheCachesRounding(String name) {
        Fixture f = Fixture.load(name);
        int vocab = f.vocab(), compared = 0;
        try (CpuBackend backend = new CpuBackend(false, true); Model model = Models.load(Fixture.ROOT.resolve(name), Models.LoadFormat.AUTO, backend)) {
            for (int p = 0; p < f.prompts().length; p++) {
                try (var gen = new SimpleGenerator(model, 512)) {
                    var seq = gen.start(f.prompts()[p]);
                    float[] logits = gen.step(List.of(seq), 0, false);
                    float[] ref = Arrays.copyOfRange(f.logits()[p], f.logits()[p].length - vocab, f.logits()[p].length);
                    double scale = 0, error = 0;
                    for (int i = 0; i < vocab; i++) {
                        scale = Math.max(scale, Math.abs(ref[i]));
                        error = Math.max(error, Math.abs(ref[i] - logits[i]));
                    }
                    // e4m3 keeps 3 mantissa bits: on these tiny random models the last position's logits move by 2-21%
                    // of the largest one (routing flips included); a cache read wrongly moves them by about all of it
                    assertTrue(error <= 0.3 * scale, name + " prompt " + p + ": logit error " + error + " of " + scale);
                    for (int step = 0; step < f.greedy()[p].length; step++) {
                        if (f.margins()[p][step] < 2 * error) break;  // a near tie: this token and the rest may differ
                        int token = SimpleGenerator.argmax(logits, 0, vocab);
                        assertEquals(f.greedy()[p][step], token, name + " prompt " + p + " greedy step " + step);
                        compared++;
                        gen.append(seq, token);
                        logits = gen.step(List.of(seq), 0, false);
                    }
                }
            }
        }
        // few steps clear so wide a margin (1 to 5 of each fixture's 144); the two tests above check the cache exactly
        assertTrue(compared >= 1, name + ": no greedy step had a margin above the cache's rounding");
    }

    @Test
    void aTokenTakesAQuarterOfTheBytesAndOnlyMlaCachesAreFp8() {
        KvLayout mla = new KvLayout.Mla(27, 512, 64), gqa = new KvLayout.Gqa(28, 2, 128);
        try (CpuBackend f32 = new CpuBackend(); CpuBackend fp8 = new CpuBackend(false, true)) {
            assertEquals(4 * fp8.kvBytesPerToken(mla), f32.kvBytesPerToken(mla));
            try (KvCache cache = fp8.kvCache(mla, 1000)) {
                assertEquals(27L * 576 * 1000, cache.bytes());
            }
            var e = assertThrows(IllegalArgumentException.class, () -> fp8.kvCache(gqa, 1000));
            assertTrue(e.getMessage().contains("only DeepSeek's MLA latent cache is built in FP8"), e.getMessage());
        }
    }
}
