package kiln.engine;

import kiln.engine.EngineConfig.OverlapSchedule;
import kiln.model.Model;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The overlapped scheduler, forced on the CPU ({@link OverlapSchedule#ON}), against the plain one: each step is
 * launched with the last step's samples as future tokens before those are applied, and every request must stream
 * exactly what it streams without overlap (ids, logprobs, finish reasons, n-siblings), lose or leak no KV slot, and
 * the overlapped path must really have run. On the CPU both schedules compute the same arithmetic, so any
 * difference is the scheduler's: a token fed twice or skipped, a sample of an ended sequence kept, a slot lost.
 */
class OverlapScheduleTest extends FixtureModels {
    private record Run(List<String> texts, EngineStats stats) {}

    private static Run run(Model model, EngineConfig cfg, Set<Integer> eos, List<Request> requests) throws Exception {
        try (Engine engine = new Engine(model, cfg, eos, null)) {
            List<String> texts = EngineTest.texts(EngineTest.transcripts(engine, requests));
            EngineTest.assertKvIntact(engine);
            return new Run(texts, engine.stats());
        }
    }

    /** The same requests with overlap off and on: equal transcripts; returns the overlapped run. */
    private static Run sameBothWays(Model model, EngineConfig cfg, Set<Integer> eos, List<Request> requests) throws Exception {
        Run plain = run(model, cfg.withOverlapSchedule(OverlapSchedule.OFF), eos, requests);
        Run overlapped = run(model, cfg.withOverlapSchedule(OverlapSchedule.ON), eos, requests);
        assertEquals(0, plain.stats().overlappedSteps(), "overlap off still overlapped");
        assertTrue(overlapped.stats().overlappedSteps() > 0, "the overlapped path never ran: " + overlapped.stats());
        assertEquals(plain.texts(), overlapped.texts());
        assertEquals(plain.stats().generationTokensTotal(), overlapped.stats().generationTokensTotal());
        assertEquals(plain.stats().finishedByReason(), overlapped.stats().finishedByReason());
        return overlapped;
    }

    /**
     * Greedy, seeded (temperature, top-k, top-p) and n = 3 requests; requests that end early on a stop token and on
     * EOS (the overlapped step after their end computes a token that must be dropped); max_new_tokens 0 and 1; and
     * one with logprobs, whose steps need the host and run unoverlapped while it lives.
     */
    @ParameterizedTest
    @ValueSource(strings = {"qwen2-tiny", "deepseek-v3-tiny"})
    void everyKindOfRequestStreamsWhatItStreamsWithoutOverlap(String name) throws Exception {
        Model model = model(name);
        List<Request> requests = new ArrayList<>(EngineTest.plainRequests(51));
        List<int[]> prompts = EngineTest.prompts(6, 53);
        int[] greedy0 = EngineTest.alone(model, prompts.get(0), 12), greedy1 = EngineTest.alone(model, prompts.get(1), 12);
        // the sixth greedy token of prompt 0 is a stop token, the fourth of prompt 1 is EOS
        SamplingParams.Builder g = SamplingParams.builder().temperature(0).maxNewTokens(12);
        requests.add(new Request("stop-token", prompts.get(0), g.stopTokenIds(List.of(greedy0[5])).build()));
        requests.add(new Request("eos", prompts.get(1), g.stopTokenIds(List.of()).build()));
        requests.add(new Request("sampled-eos", prompts.get(2), SamplingParams.builder().temperature(1.2f).seed(5L).maxNewTokens(40).build()));
        requests.add(new Request("none", prompts.get(3), g.maxNewTokens(0).build()));
        requests.add(new Request("one", prompts.get(4), g.maxNewTokens(1).build()));
        requests.add(new Request("logprobs", prompts.get(5), SamplingParams.builder().temperature(0).maxNewTokens(6).ignoreEos(true)
                .returnLogprob(true).topLogprobsNum(2).logprobStartLen(0).build()));
        Set<Integer> eos = Set.of(greedy1[3]);
        EngineConfig cfg = EngineConfig.defaults().withMaxTotalTokens(4096);
        Run overlapped = sameBothWays(model, cfg, eos, requests);
        assertTrue(overlapped.stats().finishedByReason().getOrDefault("stop", 0L) >= 2, overlapped.stats().toString());
        assertTrue(overlapped.stats().hostSampledSteps() > 0, "the logprobs request never sampled on the host");
    }

    /**
     * A pool too small for every running sequence: decode retracts sequences whose last sample is still in
     * flight (they restart only once it is seen), and prompts are chunked (mixed with decode tokens, too).
     * Greedy outputs must stay those of each prompt run alone.
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void retractionAndChunkedPrefillUnderOverlapKeepGreedyOutput(boolean mixedChunk) throws Exception {
        Model model = model("qwen2-tiny");
        List<int[]> prompts = EngineTest.prompts(12, 57);
        int newTokens = 30;
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            requests.add(new Request("g" + i, prompts.get(i), SamplingParams.builder().temperature(0).maxNewTokens(newTokens).ignoreEos(true).build()));
        }
        int longest = prompts.stream().mapToInt(p -> p.length).max().orElseThrow();
        EngineConfig cfg = EngineConfig.defaults().withMaxTotalTokens(longest + newTokens + 120).withChunkedPrefillSize(32)
                .withMixedChunk(mixedChunk);
        Run overlapped = sameBothWays(model, cfg, Set.of(), requests);
        assertTrue(overlapped.stats().retractedTotal() > 0, "the pool never ran short: " + overlapped.stats());
        try (Engine engine = new Engine(model, cfg.withOverlapSchedule(OverlapSchedule.ON), Set.of(), null)) {
            for (int i = 0; i < 3; i++) {
                int[] expected = EngineTest.alone(model, prompts.get(i), newTokens);
                assertArrayEquals(expected, EngineTest.collect(engine.submit(EngineTest.greedy(prompts.get(i), newTokens))).tokens());
            }
            EngineTest.assertKvIntact(engine);
        }
    }

    /**
     * Aborts arriving while a step is in flight: the aborted request ends with an abort and nothing after it, its
     * slots come back, and the requests decoding beside it go on to their greedy outputs.
     */
    @Test
    void abortsBetweenOverlappedStepsLoseNothingElse() throws Exception {
        Model model = model("qwen2-tiny");
        List<int[]> prompts = EngineTest.prompts(4, 59);
        int newTokens = 60;
        // computed first: the model's backend serves one forward at a time
        List<int[]> expected = prompts.stream().map(p -> EngineTest.alone(model, p, newTokens)).toList();
        EngineConfig cfg = EngineConfig.defaults().withMaxTotalTokens(4096).withOverlapSchedule(OverlapSchedule.ON);
        try (Engine engine = new Engine(model, cfg, Set.of(), null)) {
            List<RequestHandle> handles = new ArrayList<>();
            for (int[] p : prompts) handles.add(engine.submit(EngineTest.greedy(p, newTokens)));
            RequestHandle victim = handles.get(1);
            while (victim.poll(60, java.util.concurrent.TimeUnit.SECONDS).tokenIds().length == 0) {
                // wait for its first token: it is decoding now
            }
            engine.abort(victim.id());
            for (int i = 0; i < handles.size(); i++) {
                if (i == 1) {
                    assertEquals("abort", EngineTest.collect(victim).finish().type());
                    continue;
                }
                assertArrayEquals(expected.get(i), EngineTest.collect(handles.get(i)).tokens(), "request " + i);
            }
            EngineTest.assertKvIntact(engine);
            assertEquals(0, engine.stats().kvUsedTokens(), "slots still in use after every request ended");
            assertTrue(engine.stats().overlappedSteps() > 0);
            assertTrue(engine.flushCache(), "an idle engine flushes, whatever step it launched last");
            assertEquals(0, engine.stats().kvCachedTokens());
            EngineTest.assertKvIntact(engine);
        }
    }
}
