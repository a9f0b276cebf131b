package kiln.engine;

import kiln.backend.Backend;
import kiln.model.Model;
import kiln.tokenizer.Tokenizer;
import kiln.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The scheduler on real fixture models: batching, chunking, prefix reuse and retraction never change greedy output. */
class EngineTest extends FixtureModels {
    static List<int[]> prompts(int count, long seed) {
        Random r = new Random(seed);
        List<int[]> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int[] p = new int[1 + r.nextInt(i % 3 == 0 ? 150 : 40)];
            for (int j = 0; j < p.length; j++) p[j] = 3 + r.nextInt(1000);
            out.add(p);
        }
        return out;
    }

    /** Greedy output of each prompt run alone, through the plain generator (no scheduler). */
    static int[] alone(Model model, int[] prompt, int newTokens) {
        try (var gen = new kiln.engine.SimpleGenerator(model, prompt.length + newTokens + 1)) {
            var seq = gen.start(prompt);
            float[] logits = gen.step(List.of(seq), 0, false);
            int[] out = new int[newTokens];
            for (int i = 0; i < newTokens; i++) {
                out[i] = SimpleGenerator.argmax(logits, 0, model.config().vocabSize());
                gen.append(seq, out[i]);
                if (i + 1 < newTokens) logits = gen.step(List.of(seq), 0, false);
            }
            return out;
        }
    }

    record Result(int[] tokens, Output.FinishReason finish, int cached, int prompt) {}

    static Result collect(RequestHandle h) throws InterruptedException {
        List<Integer> tokens = new ArrayList<>();
        Output o, last = null;
        while ((o = h.poll(60, TimeUnit.SECONDS)) != null) {
            for (int t : o.tokenIds()) tokens.add(t);
            last = o;
            if (h.ended()) break;
        }
        assertNotNull(last, "no output from " + h.id());
        assertTrue(last.finished(), "stream of " + h.id() + " ended without a finish reason");
        return new Result(tokens.stream().mapToInt(Integer::intValue).toArray(), last.finish(), last.cachedTokens(), last.promptTokens());
    }

    static Request greedy(int[] prompt, int newTokens) {
        return new Request(Engine.newRequestId(), prompt, SamplingParams.builder().temperature(0).maxNewTokens(newTokens).ignoreEos(true).build());
    }

    @ParameterizedTest
    @ValueSource(strings = {"deepseek-v3-tiny", "qwen2-tiny"})
    void batchingChunkingAndPrefixReuseKeepGreedyOutput(String name) throws Exception {
        Model model = model(name);
        List<int[]> prompts = prompts(16, 7);
        int newTokens = 12;
        List<int[]> expected = prompts.stream().map(p -> alone(model, p, newTokens)).toList();
        EngineConfig cfg = EngineConfig.defaults().withMaxTotalTokens(8192).withChunkedPrefillSize(64);
        try (Engine engine = new Engine(model, cfg, Set.of(), null)) {
            for (int round = 0; round < 2; round++) {
                List<RequestHandle> handles = new ArrayList<>();
                for (int[] p : prompts) handles.add(engine.submit(greedy(p, newTokens)));
                int cachedSum = 0;
                for (int i = 0; i < handles.size(); i++) {
                    Result r = collect(handles.get(i));
                    assertArrayEquals(expected.get(i), r.tokens(), name + " round " + round + " request " + i);
                    assertEquals("length", r.finish().type());
                    cachedSum += r.cached();
                    if (round == 1 && prompts.get(i).length > 1) assertTrue(r.cached() > 0, "second run of request " + i + " reused no prefix");
                }
                if (round == 0) assertEquals(0, cachedSum, "first round found cached prefixes");
            }
            waitIdle(engine);
            assertEquals(0, engine.stats().kvUsedTokens());
            assertTrue(engine.flushCache());
            assertEquals(0, engine.stats().kvCachedTokens());
            assertKvIntact(engine);
        }
    }

    /** The scheduling variants change what runs together, never what a request generates. */
    @ParameterizedTest
    @ValueSource(strings = {"mixed-chunk", "lpm", "no-radix-cache", "no-chunking"})
    void schedulingVariantsKeepGreedyOutput(String variant) throws Exception {
        Model model = model("deepseek-v3-tiny");
        List<int[]> prompts = prompts(12, 13);
        // shared prefixes, so that lpm has something to prefer
        for (int i = 1; i < prompts.size(); i += 2) {
            int[] p = prompts.get(i - 1), q = prompts.get(i);
            int[] joined = Arrays.copyOf(p, p.length + q.length);
            System.arraycopy(q, 0, joined, p.length, q.length);
            prompts.set(i, joined);
        }
        int newTokens = 10;
        List<int[]> expected = prompts.stream().map(p -> alone(model, p, newTokens)).toList();
        EngineConfig cfg = EngineConfig.defaults().withMaxTotalTokens(8192).withChunkedPrefillSize(48);
        cfg = switch (variant) {
            case "mixed-chunk" -> cfg.withMixedChunk(true);
            case "lpm" -> cfg.withSchedulePolicy(EngineConfig.SchedulePolicy.LPM);
            case "no-radix-cache" -> cfg.withRadixCache(false);
            default -> cfg.withChunkedPrefillSize(-1);
        };
        try (Engine engine = new Engine(model, cfg, Set.of(), null)) {
            for (int round = 0; round < 2; round++) {
                List<RequestHandle> handles = new ArrayList<>();
                for (int[] p : prompts) handles.add(engine.submit(greedy(p, newTokens)));
                for (int i = 0; i < handles.size(); i++) {
                    Result r = collect(handles.get(i));
                    assertArrayEquals(expected.get(i), r.tokens(), variant + " round " + round + " request " + i);
                    if (variant.equals("no-radix-cache")) assertEquals(0, r.cached(), "cache disabled but request " + i + " reused a prefix");
                }
            }
            // n > 1 without the radix cache prefills each sample separately, still one stream per sample
            RequestHandle many = engine.submit(new Request("n", prompts.getFirst(),
                    SamplingParams.builder().temperature(1f).seed(3L).n(3).maxNewTokens(5).ignoreEos(true).build()));
            int finished = 0;
            Output o;
            while ((o = many.poll(30, TimeUnit.SECONDS)) != null) {
                if (o.finished()) finished++;
                if (many.ended()) break;
            }
            assertEquals(3, finished);
            waitIdle(engine);
            assertEquals(0, engine.stats().kvUsedTokens());
            assertKvIntact(engine);
        }
    }

    @Test
    void tooSmallAPoolRetractsAndStillFinishesEverything() throws Exception {
        Model model = model("deepseek-v3-tiny");
        List<int[]> prompts = prompts(32, 11);
        int newTokens = 24;
        List<int[]> expected = prompts.stream().map(p -> alone(model, p, newTokens)).toList();
        // room for a few requests at a time; admission's estimate is optimistic, so decode must retract
        EngineConfig cfg = EngineConfig.defaults().withMaxTotalTokens(400).withChunkedPrefillSize(64);
        try (Engine engine = new Engine(model, cfg, Set.of(), null)) {
            List<RequestHandle> handles = new ArrayList<>();
            for (int[] p : prompts) handles.add(engine.submit(greedy(p, newTokens)));
            for (int i = 0; i < handles.size(); i++) {
                assertArrayEquals(expected.get(i), collect(handles.get(i)).tokens(), "request " + i);
            }
            waitIdle(engine);
            assertTrue(engine.stats().retractedTotal() > 0, "the pool never ran short; the test does not exercise retraction");
            assertTrue(engine.flushCache());
            assertEquals(0, engine.stats().kvUsedTokens());
            assertEquals(0, engine.stats().kvCachedTokens());
            assertKvIntact(engine);
        }
    }

    @Test
    void abortMidPrefillAndMidDecodeFreesSlots() throws Exception {
        Model model = model("deepseek-v3-tiny");
        EngineConfig cfg = EngineConfig.defaults().withMaxTotalTokens(4096).withChunkedPrefillSize(16);
        try (Engine engine = new Engine(model, cfg, Set.of(), null)) {
            int[] longPrompt = prompts(1, 3).getFirst();
            longPrompt = Arrays.copyOf(longPrompt, 400);
            for (int i = 0; i < longPrompt.length; i++) if (longPrompt[i] == 0) longPrompt[i] = 5 + i % 900;
            RequestHandle prefill = engine.submit(greedy(longPrompt, 50));
            prefill.cancel();
            Result r = collect(prefill);
            assertEquals("abort", r.finish().type());

            RequestHandle decode = engine.submit(greedy(new int[]{5, 6, 7}, 4000));
            Output first = decode.poll(30, TimeUnit.SECONDS);
            assertNotNull(first);
            decode.cancel();
            assertEquals("abort", collect(decode).finish().type());
            waitIdle(engine);
            assertEquals(0, engine.stats().kvUsedTokens(), "aborted requests left slots in use");
            assertTrue(engine.flushCache());
            assertEquals(0, engine.stats().kvCachedTokens());
            assertKvIntact(engine);
        }
    }

    @Test
    void seedsReproduceAndNSamplesShareOnePrefill() throws Exception {
        Model model = model("qwen2-tiny");
        try (Engine engine = new Engine(model, EngineConfig.defaults().withMaxTotalTokens(4096), Set.of(), null)) {
            int[] prompt = prompts(1, 5).getFirst();
            SamplingParams p = SamplingParams.builder().temperature(1.0f).topP(0.95f).topK(50).seed(1234L).maxNewTokens(16).ignoreEos(true).build();
            int[] a = collect(engine.submit(new Request("a", prompt, p))).tokens();
            // the same seed in a busy batch gives the same tokens
            List<RequestHandle> noise = new ArrayList<>();
            for (int[] q : prompts(6, 9)) noise.add(engine.submit(greedy(q, 16)));
            int[] b = collect(engine.submit(new Request("b", prompt, p))).tokens();
            for (RequestHandle h : noise) collect(h);
            assertArrayEquals(a, b);

            RequestHandle many = engine.submit(new Request("n", prompt, p.toBuilder().n(4).seed(99L).build()));
            Map<Integer, List<Integer>> bySample = new HashMap<>();
            int finished = 0, cachedOnSiblings = 0;
            Output o;
            while ((o = many.poll(30, TimeUnit.SECONDS)) != null) {
                for (int t : o.tokenIds()) bySample.computeIfAbsent(o.index(), k -> new ArrayList<>()).add(t);
                if (o.finished()) {
                    finished++;
                    if (o.index() > 0) cachedOnSiblings += o.cachedTokens();
                }
                if (many.ended()) break;
            }
            assertEquals(4, finished);
            assertEquals(4, bySample.size());
            bySample.values().forEach(v -> assertEquals(16, v.size()));
            assertNotEquals(bySample.get(0), bySample.get(1), "samples of n=4 are identical");
            assertEquals(prompt.length, engine.stats().promptTokensTotal() - 2L * prompt.length - noiseTokens(), "n=4 prefilled its prompt more than once");
            assertKvIntact(engine);
        }
    }

    @Test
    void stopStringsMatchAcrossTokenBoundariesAndStayOutOfTheText() throws Exception {
        // the fixture model's ids (< 1024) are real byte-level tokens of the DeepSeek vocabulary
        Tokenizer tok = Tokenizers.bundled();
        Model model = model("deepseek-v3-tiny");
        try (Engine engine = new Engine(model, EngineConfig.defaults().withMaxTotalTokens(4096), Set.of(), tok)) {
            int[] prompt = prompts(1, 21).getFirst();
            List<String> pieces = new ArrayList<>();
            RequestHandle free = engine.submit(greedy(prompt, 40));
            Output o;
            StringBuilder full = new StringBuilder();
            while ((o = free.next()) != null) {
                pieces.add(o.text());
                full.append(o.text());
            }
            String text = full.toString();
            // a stop string made of the end of one token's text and the start of a later one
            int k = -1;
            for (int i = 5; i < pieces.size() - 1 && k < 0; i++) if (pieces.get(i).length() >= 2 && !pieces.get(i + 1).isEmpty()) k = i;
            assertTrue(k > 0, "no two consecutive non-empty pieces in " + pieces);
            String stop = pieces.get(k).substring(pieces.get(k).length() - 2) + pieces.get(k + 1).charAt(0);
            int at = text.indexOf(stop);
            RequestHandle stopped = engine.submit(new Request("s", prompt, SamplingParams.builder().temperature(0)
                    .maxNewTokens(40).ignoreEos(true).stop(List.of("never-appears-xyz", stop)).build()));
            StringBuilder streamed = new StringBuilder();
            Output last = null;
            while ((o = stopped.next()) != null) {
                streamed.append(o.text());
                last = o;
            }
            assertEquals(text.substring(0, at), streamed.toString());
            assertEquals("stop", last.finish().type());
            assertEquals(stop, last.finish().matched());
            assertKvIntact(engine);
        }
    }

    @Test
    void minNewTokensHoldsBackStopTokensAndEos() throws Exception {
        Model model = model("qwen2-tiny");
        int[] prompt = prompts(1, 17).getFirst();
        int[] free = alone(model, prompt, 6);
        // the greedy first token is both EOS and a stop token here: without min_new_tokens the request ends at once
        try (Engine engine = new Engine(model, EngineConfig.defaults().withMaxTotalTokens(4096), Set.of(free[0]), null)) {
            Result early = collect(engine.submit(new Request("a", prompt, SamplingParams.builder().temperature(0).maxNewTokens(6).build())));
            assertArrayEquals(new int[]{free[0]}, early.tokens());
            assertEquals("stop", early.finish().type());
            Result held = collect(engine.submit(new Request("b", prompt, SamplingParams.builder().temperature(0).maxNewTokens(6)
                    .minNewTokens(3).stopTokenIds(List.of(free[0])).build())));
            assertTrue(held.tokens().length >= 3, "stopped before min_new_tokens: " + Arrays.toString(held.tokens()));
            for (int i = 0; i < 3; i++) assertNotEquals(free[0], held.tokens()[i], "EOS sampled before min_new_tokens");
            assertKvIntact(engine);
        }
    }

    /** Seeded and greedy requests of every kind the device can serve: temperature, top-k, top-p, top_k 1, n > 1. */
    static List<Request> plainRequests(long seed) {
        List<int[]> prompts = prompts(6, seed);
        SamplingParams.Builder base = SamplingParams.builder().maxNewTokens(12).ignoreEos(true);
        List<SamplingParams> params = List.of(
                base.temperature(0).build(),
                base.temperature(0.8f).topP(0.9f).topK(-1).seed(11L).build(),
                base.temperature(1.3f).topP(1f).topK(20).seed(12L).build(),
                base.temperature(0.7f).topP(0.8f).topK(40).seed(13L).build(),
                base.temperature(1f).topP(1f).topK(1).seed(14L).build(),
                base.temperature(1f).topP(0.95f).topK(-1).seed(15L).n(3).build());
        List<Request> out = new ArrayList<>();
        for (int i = 0; i < params.size(); i++) out.add(new Request("r" + i, prompts.get(i), params.get(i)));
        return out;
    }

    /** Everything a request streamed (ids, logprobs, prompt logprobs, finish) per sample, as text; and sample 0's ids. */
    record Transcript(String text, int[] firstSample) {}

    static List<Transcript> transcripts(Engine engine, List<Request> requests) throws InterruptedException {
        List<RequestHandle> handles = requests.stream().map(engine::submit).toList();
        List<Transcript> out = new ArrayList<>();
        for (RequestHandle h : handles) {
            Map<Integer, StringBuilder> bySample = new java.util.TreeMap<>();
            List<Integer> first = new ArrayList<>();
            Output o;
            while ((o = h.poll(60, TimeUnit.SECONDS)) != null) {
                StringBuilder b = bySample.computeIfAbsent(o.index(), k -> new StringBuilder("sample " + k + ":"));
                b.append(' ').append(Arrays.toString(o.tokenIds()));
                if (o.index() == 0) for (int t : o.tokenIds()) first.add(t);
                for (Output.TokenLogprob lp : o.logprobs()) b.append(" lp ").append(render(lp));
                if (o.promptLogprobs() != null) for (Output.TokenLogprob lp : o.promptLogprobs()) b.append(" prompt ").append(render(lp));
                if (o.finished()) b.append(" finish ").append(o.finish().type());
                if (h.ended()) break;
            }
            assertTrue(h.ended(), "request " + h.id() + " did not end");
            out.add(new Transcript(h.id() + " " + bySample.values(), first.stream().mapToInt(Integer::intValue).toArray()));
        }
        return out;
    }

    private static String render(Output.TokenLogprob lp) {
        return lp.tokenId() + "=" + lp.logprob() + Arrays.toString(lp.topIds()) + Arrays.toString(lp.topLogprobs());
    }

    static List<String> texts(List<Transcript> ts) {
        return ts.stream().map(Transcript::text).toList();
    }

    /**
     * Sampling on the backend (ids only come back) gives the tokens the host Sampler gives: greedy exactly, seeded
     * samples from the same uniform of the same stream. On the CPU the two are the same arithmetic; on a GPU
     * (CudaEngineTest) this checks the sampling kernel through the scheduler.
     */
    @Test
    void deviceAndHostSamplingGiveTheSameTokens() throws Exception {
        Model model = model("qwen2-tiny");
        List<Request> requests = plainRequests(31);
        Map<Boolean, List<Transcript>> runs = new HashMap<>();
        for (boolean device : new boolean[]{true, false}) {
            EngineConfig cfg = EngineConfig.defaults().withMaxTotalTokens(4096).withDeviceSampling(device);
            try (Engine engine = new Engine(model, cfg, Set.of(), null)) {
                runs.put(device, transcripts(engine, requests));
                waitIdle(engine);
                EngineStats st = engine.stats();
                assertTrue((device ? st.deviceSampledSteps() : st.hostSampledSteps()) > 0, "no step sampled " + (device ? "on the device" : "on the host"));
                assertEquals(0, device ? st.hostSampledSteps() : st.deviceSampledSteps(), "device sampling " + device + ": " + st);
                assertKvIntact(engine);
            }
        }
        assertEquals(texts(runs.get(false)), texts(runs.get(true)));
        List<Transcript> device = runs.get(true);
        int differ = 0;
        for (int i = 0; i < requests.size(); i++) {
            int[] greedy = alone(model, requests.get(i).promptIds(), 12), got = device.get(i).firstSample();
            if (requests.get(i).params().isGreedy()) assertArrayEquals(greedy, got, device.get(i).text());
            else if (!Arrays.equals(greedy, got)) differ++;
        }
        assertTrue(differ >= 3, "seeded samples mostly equal greedy output; the test does not exercise sampling: " + texts(device));
    }

    /**
     * A forward that throws ends the requests of its step with an "internal error" abort, returns the KV slots it
     * had allocated for them (none leak), and the engine goes on serving.
     */
    @Test
    void aFailedForwardEndsItsRequestsAndLosesNoSlots() throws Exception {
        Model model = model("qwen2-tiny");
        int poison = 999;
        Model failing = new Model() {
            public kiln.config.ModelConfig config() { return model.config(); }
            public Backend backend() { return model.backend(); }
            public kiln.backend.KvLayout kvLayout() { return model.kvLayout(); }
            public kiln.backend.KvCache newKvCache(int slots) { return model.newKvCache(slots); }
            public long kvBytesPerToken() { return model.kvBytesPerToken(); }
            public long kvMemoryBudget(double fraction) { return model.kvMemoryBudget(fraction); }
            public long weightBytes() { return model.weightBytes(); }
            public long decodeBytesPerToken() { return model.decodeBytesPerToken(); }
            public void close() {}

            public kiln.backend.Tensor forward(kiln.backend.ForwardBatch batch, kiln.backend.KvCache cache) {
                for (int t : batch.tokens()) if (t == poison) throw new IllegalStateException("a device fault (test)");
                return model.forward(batch, cache);
            }
        };
        EngineConfig cfg = EngineConfig.defaults().withMaxTotalTokens(2048);
        try (Engine engine = new Engine(failing, cfg, Set.of(), null)) {
            Result failed = collect(engine.submit(greedy(new int[]{5, 6, 7, poison, 8}, 4)));
            assertEquals("abort", failed.finish().type());
            assertTrue(failed.finish().message().contains("a device fault (test)"), failed.finish().message());
            assertKvIntact(engine);
            assertEquals(0, engine.stats().kvUsedTokens(), "slots of the failed step still in use");
            int[] prompt = {5, 6, 7, 8, 9};
            assertArrayEquals(alone(model, prompt, 4), collect(engine.submit(greedy(prompt, 4))).tokens());
            assertKvIntact(engine);
        }
    }

    private static long noiseTokens() {
        return prompts(6, 9).stream().mapToLong(q -> q.length).sum();
    }

    /** Once the engine is idle, every KV slot is free or in the radix tree, none locked, none lost or counted twice. */
    static void assertKvIntact(Engine engine) throws InterruptedException {
        waitIdle(engine);
        engine.checkIntegrity();
    }

    static void waitIdle(Engine engine) throws InterruptedException {
        for (int i = 0; i < 500 && (engine.stats().runningRequests() > 0 || engine.stats().queuedRequests() > 0); i++) Thread.sleep(10);
        Thread.sleep(20);
    }
}
