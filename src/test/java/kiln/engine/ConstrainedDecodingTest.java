package kiln.engine;

import kiln.backend.Backend;
import kiln.grammar.GrammarCompiler;
import kiln.model.DefaultModel;
import kiln.model.Model;
import kiln.model.Models;
import kiln.tokenizer.Tokenizer;
import kiln.tokenizer.Tokenizers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Structured output and logit_bias in the engine, on the CPU backend with the embedded default model (DeepSeek's
 * real vocabulary, dummy weights): every sampling path (greedy, temperature with top-k / top-p / min-p, n > 1, the
 * device path and the host path) keeps to the grammar, a finished grammar ends the sample with "stop", logprobs are
 * those of the masked distribution, and biases force or ban tokens. {@link CudaConstrainedDecodingTest} runs the
 * same on the GPU.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ConstrainedDecodingTest {
    private Backend backend;
    private Model model;
    private Tokenizer tokenizer;
    private GrammarCompiler compiler;
    private Set<Integer> eos;

    @BeforeAll
    void load() {
        backend = placement().backend("deepseek (the default model)");
        model = placement().prepare(Models.load(DefaultModel.config(null), null, Models.LoadFormat.DUMMY, backend, 1));
        tokenizer = Tokenizers.bundled();
        compiler = GrammarCompiler.of(tokenizer, model.config().vocabSize());
        eos = Set.copyOf(tokenizer.eosIds());
    }

    /** Where the model runs (the CPU here; the GPU in float32 with decode graphs in the CUDA subclass). */
    protected FixtureModels.Placement placement() {
        return FixtureModels.Placement.CPU;
    }

    @AfterAll
    void close() {
        if (model != null) model.close();  // none where the GPU subclass was skipped
        if (backend != null) backend.close();
    }

    private record Sample(int[] ids, String text, Output.FinishReason finish, List<Output.TokenLogprob> logprobs) {}

    /** Every sample of each request (index order), run together in one engine. */
    private List<List<Sample>> run(boolean deviceSampling, List<Request> requests, EngineStats[] stats) throws Exception {
        EngineConfig cfg = EngineConfig.defaults().withMaxTotalTokens(8192).withDeviceSampling(deviceSampling);
        try (Engine engine = new Engine(model, cfg, eos, tokenizer)) {
            List<RequestHandle> handles = requests.stream().map(engine::submit).toList();
            List<List<Sample>> out = new ArrayList<>();
            for (int r = 0; r < handles.size(); r++) {
                int n = requests.get(r).params().n();
                List<List<Integer>> ids = new ArrayList<>();
                List<StringBuilder> text = new ArrayList<>();
                List<List<Output.TokenLogprob>> lps = new ArrayList<>();
                Output.FinishReason[] finish = new Output.FinishReason[n];
                for (int i = 0; i < n; i++) {
                    ids.add(new ArrayList<>());
                    text.add(new StringBuilder());
                    lps.add(new ArrayList<>());
                }
                Output o;
                while ((o = handles.get(r).poll(120, TimeUnit.SECONDS)) != null) {
                    for (int t : o.tokenIds()) ids.get(o.index()).add(t);
                    if (o.text() != null) text.get(o.index()).append(o.text());
                    lps.get(o.index()).addAll(o.logprobs());
                    if (o.finished()) finish[o.index()] = o.finish();
                }
                List<Sample> samples = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    samples.add(new Sample(ids.get(i).stream().mapToInt(Integer::intValue).toArray(), text.get(i).toString(), finish[i], lps.get(i)));
                }
                out.add(samples);
            }
            EngineTest.waitIdle(engine);
            if (stats != null) stats[0] = engine.stats();
            EngineTest.assertKvIntact(engine);
            return out;
        }
    }

    private Request request(String id, String prompt, SamplingParams params) {
        return new Request(id, tokenizer.encode(prompt, true), params);
    }

    private Constraint regex(String pattern) {
        return Constraint.of(compiler.regex(pattern), "regex");
    }

    @Test
    void everySamplingPathKeepsToTheGrammarAndEndsWithStop() throws Exception {
        String pattern = "(cat|dog|bird)( and (cat|dog|bird)){0,3}\\.";
        Constraint c = regex(pattern);
        List<SamplingParams> variants = List.of(
                SamplingParams.builder().temperature(0).maxNewTokens(64).constraint(c).build(),
                SamplingParams.builder().temperature(1).seed(1L).maxNewTokens(64).constraint(c).build(),
                SamplingParams.builder().temperature(1.3f).topK(3).seed(2L).maxNewTokens(64).constraint(c).build(),
                SamplingParams.builder().temperature(1).topP(0.5f).seed(3L).maxNewTokens(64).constraint(c).build(),
                SamplingParams.builder().temperature(1).minP(0.2f).seed(4L).maxNewTokens(64).constraint(c).build(),
                SamplingParams.builder().temperature(1).seed(5L).n(3).maxNewTokens(64).constraint(c).build(),
                SamplingParams.builder().temperature(1).seed(6L).maxNewTokens(64).returnLogprob(true).topLogprobsNum(3).constraint(c).build(),
                SamplingParams.builder().temperature(1).seed(7L).repetitionPenalty(1.3f).maxNewTokens(64).constraint(c).build());
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < variants.size(); i++) requests.add(request("v" + i, "Name some animals: ", variants.get(i)));
        requests.add(request("free", "Name some animals: ", SamplingParams.builder().temperature(1).seed(8L).maxNewTokens(12).build()));
        List<List<Sample>> out = run(true, requests, null);
        Pattern p = Pattern.compile(pattern);
        for (int r = 0; r < variants.size(); r++) {
            for (Sample s : out.get(r)) {
                assertTrue(p.matcher(s.text()).matches(), "request " + r + " wrote '" + s.text() + "'");
                assertEquals("stop", s.finish().type(), "request " + r + ": " + s.finish());
            }
        }
        assertEquals(3, out.get(5).size());
        // the unconstrained request in the same batch is not held to the grammar: 12 tokens of dummy text
        assertEquals("length", out.get(variants.size()).getFirst().finish().type());
    }

    @Test
    void constrainedRowsSampleOnTheDeviceAsOnTheHost() throws Exception {
        Constraint c = Constraint.of(compiler.jsonSchema("{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":0,"
                + "\"maximum\":999},\"ok\":{\"type\":\"boolean\"}},\"required\":[\"n\",\"ok\"]}", false), "json_schema");
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            requests.add(request("c" + i, "JSON please: ", SamplingParams.builder().temperature(1).seed(10L + i).maxNewTokens(40).constraint(c).build()));
        }
        requests.add(request("plain", "JSON please: ", SamplingParams.builder().temperature(1).seed(20L).maxNewTokens(20).build()));
        requests.add(request("biased", "JSON please: ", SamplingParams.builder().temperature(1).seed(21L).maxNewTokens(20)
                .logitBias(Map.of(100, 3f, 200, -5f)).build()));
        EngineStats[] device = new EngineStats[1], host = new EngineStats[1];
        List<List<Sample>> onDevice = run(true, requests, device), onHost = run(false, requests, host);
        for (int r = 0; r < requests.size(); r++) {
            assertArrayEquals(onHost.get(r).getFirst().ids(), onDevice.get(r).getFirst().ids(), "request " + r);
        }
        // masks and biases do not move a step's sampling to the host
        assertEquals(0, device[0].hostSampledSteps());
        assertTrue(host[0].hostSampledSteps() > 0);
        Pattern json = Pattern.compile("\\{\"n\":(0|[1-9][0-9]{0,2}),\"ok\":(true|false)}");
        for (int r = 0; r < 4; r++) assertTrue(json.matcher(onDevice.get(r).getFirst().text()).matches(), onDevice.get(r).getFirst().text());
    }

    @Test
    void logprobsAreThoseOfTheMaskedDistribution() throws Exception {
        // two single-character tokens allowed at the first step: their probabilities sum to 1, the rest is -inf
        Constraint c = regex("[xy]");
        int x = single("x"), y = single("y");
        List<List<Sample>> out = run(false, List.of(request("lp", "Pick: ", SamplingParams.builder().temperature(1).seed(3L)
                .maxNewTokens(8).returnLogprob(true).topLogprobsNum(4).constraint(c).build())), null);
        Output.TokenLogprob first = out.getFirst().getFirst().logprobs().getFirst();
        assertTrue(Set.of(x, y).contains(first.tokenId()), "sampled " + first.tokenId());
        assertEquals(Set.of(x, y), Set.of(first.topIds()[0], first.topIds()[1]));
        double mass = Math.exp(first.topLogprobs()[0]) + Math.exp(first.topLogprobs()[1]);
        assertEquals(1.0, mass, 1e-4, "allowed tokens' mass");
        assertEquals(Float.NEGATIVE_INFINITY, first.topLogprobs()[2]);
    }

    @Test
    void logitBiasForcesAndBans() throws Exception {
        SamplingParams greedy = SamplingParams.builder().temperature(0).maxNewTokens(6).ignoreEos(true).build();
        int[] plain = run(true, List.of(request("g", "Hello", greedy)), null).getFirst().getFirst().ids();
        int forced = single("Q");
        int[] up = run(true, List.of(request("up", "Hello", SamplingParams.builder().temperature(1).seed(5L).maxNewTokens(6).ignoreEos(true)
                .logitBias(Map.of(forced, 100f)).build())), null).getFirst().getFirst().ids();
        for (int t : up) assertEquals(forced, t);
        int[] down = run(true, List.of(request("down", "Hello", greedy.toBuilder().logitBias(Map.of(plain[0], -100f)).build())), null)
                .getFirst().getFirst().ids();
        assertNotEquals(plain[0], down[0]);
        for (int t : down) assertNotEquals(plain[0], t);
    }

    @Test
    void grammarStartsAfterItsToken() throws Exception {
        // a forced token written twice: the opening text "ba" spans the two, and the grammar holds from then on
        int ab = single("ab");
        Constraint c = regex("[0-9]{2}!").after("ba");
        List<List<Sample>> out = run(true, List.of(request("after", "Think: ", SamplingParams.builder().temperature(1).seed(9L)
                .maxNewTokens(20).logitBias(Map.of(ab, 100f)).constraint(c).build())), null);
        Sample s = out.getFirst().getFirst();
        assertTrue(s.text().matches("abab[0-9]{2}!"), s.text());
        assertEquals("stop", s.finish().type());
    }

    @Test
    void refusesBiasOutsideTheVocabularyAndAGrammarOfAnotherVocabulary() {
        EngineConfig cfg = EngineConfig.defaults().withMaxTotalTokens(4096);
        try (Engine engine = new Engine(model, cfg, eos, tokenizer)) {
            EngineException e = org.junit.jupiter.api.Assertions.assertThrows(EngineException.class, () -> engine.submit(request("big", "x",
                    SamplingParams.builder().logitBias(Map.of(model.config().vocabSize(), 1f)).build())));
            assertEquals("logit_bias", e.field());
            Constraint other = Constraint.of(GrammarCompiler.of(tokenizer, model.config().vocabSize() + 64).regex("a"), "regex");
            e = org.junit.jupiter.api.Assertions.assertThrows(EngineException.class, () -> engine.submit(request("voc", "x",
                    SamplingParams.builder().constraint(other).build())));
            assertNotNull(e.getMessage());
            assertTrue(SamplingParams.builder().logitBias(Map.of(5, 100.5f)).build().validate().startsWith("logit_bias"));
        }
    }

    private int single(String text) {
        int[] ids = tokenizer.encode(text, false);
        assertEquals(1, ids.length, text + " is one token");
        return ids[0];
    }
}
