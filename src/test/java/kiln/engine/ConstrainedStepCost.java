package kiln.engine;

import kiln.backend.cpu.CpuBackend;
import kiln.grammar.GrammarCompiler;
import kiln.model.DefaultModel;
import kiln.model.Model;
import kiln.model.Models;
import kiln.tokenizer.Tokenizer;
import kiln.tokenizer.Tokenizers;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The cost of structured output per decode step (docs/performance.md): the embedded default model on the CPU
 * backend, 8 requests decoding together, plain, constrained by a grammar (masks filled on the mask worker during
 * the forward, applied to the logits before sampling), with a logit_bias, and half constrained. The grammar allows
 * almost every token and does not end within the run, so every step of every mode has 8 rows.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp target/test-classes:target/classes:$(cat target/test-classpath) \
 *     kiln.engine.ConstrainedStepCost [rounds]
 * </pre>
 */
public final class ConstrainedStepCost {
    private static final int BATCH = 8, TOKENS = 64;

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        try (CpuBackend backend = new CpuBackend();
             Model model = Models.load(DefaultModel.config(null), null, Models.LoadFormat.DUMMY, backend, 1)) {
            Tokenizer tok = Tokenizers.bundled();
            // any text but a NUL byte, then a NUL: masks of ~all 128k tokens that never end in 64 tokens
            Constraint c = Constraint.of(GrammarCompiler.of(tok, model.config().vocabSize()).regex("[^\\x00]*\\x00"), "regex");
            Map<Integer, Float> bias = new HashMap<>();
            for (int i = 0; i < 20; i++) bias.put(1000 + 37 * i, i % 2 == 0 ? 5f : -5f);
            Map<String, Integer> constrained = Map.of("plain", 0, "constrained", BATCH, "half constrained", BATCH / 2, "logit_bias", 0);
            try (Engine engine = new Engine(model, EngineConfig.defaults().withMaxTotalTokens(16384), Set.copyOf(tok.eosIds()), tok)) {
                run(engine, tok, c, Map.of(), BATCH); // warm-up
                run(engine, tok, null, Map.of(), 0);
                System.out.println("mode,round,decode_steps,mean_batch,decode_step_ms");
                for (int r = 0; r < rounds; r++) {
                    for (String mode : List.of("plain", "constrained", "half constrained", "logit_bias")) {
                        EngineStats before = engine.stats();
                        run(engine, tok, c, mode.equals("logit_bias") ? bias : Map.of(), constrained.get(mode));
                        EngineStats after = engine.stats();
                        long steps = after.decodeSteps() - before.decodeSteps();
                        System.out.printf("%s,%d,%d,%.1f,%.3f%n", mode, r, steps,
                                (double) (after.decodeStepSequences() - before.decodeStepSequences()) / steps,
                                (after.decodeStepNanos() - before.decodeStepNanos()) / 1e6 / steps);
                    }
                }
            }
            parts(backend, c, model.config().vocabSize(), "free text (~128k tokens allowed)");
            parts(backend, Constraint.of(GrammarCompiler.of(tok, model.config().vocabSize()).regex("[0-9]+x"), "regex"),
                    model.config().vocabSize(), "digits (~1k tokens allowed)");
        }
    }

    /** The two parts alone: filling BATCH masks (the worker's share) and writing them into [BATCH, vocab] logits. */
    private static void parts(CpuBackend backend, Constraint c, int vocab, String what) {
        int words = (vocab + 63) / 64, reps = 400;
        GrammarState[] states = new GrammarState[BATCH];
        for (int i = 0; i < BATCH; i++) states[i] = new GrammarState(c, id -> new byte[0]);
        long[] masks = new long[BATCH * words];
        int[] rows = new int[BATCH];
        for (int i = 0; i < BATCH; i++) rows[i] = i;
        float[] logits = new float[BATCH * vocab];
        kiln.backend.Tensor t = backend.upload(logits, BATCH, vocab);
        long fill = 0, apply = 0;
        for (int rep = 0; rep < 2 * reps; rep++) {
            long t0 = System.nanoTime();
            for (int i = 0; i < BATCH; i++) System.arraycopy(states[i].fillMask(List.of()), 0, masks, i * words, words);
            long t1 = System.nanoTime();
            backend.constrain(t, new kiln.backend.LogitConstraints(rows, masks, words, new int[0], new int[0], new float[0]));
            long t2 = System.nanoTime();
            if (rep >= reps) {  // the first half warms up
                fill += t1 - t0;
                apply += t2 - t1;
            }
        }
        System.out.printf("%s: fill %d masks: %.3f ms, write them into the logits: %.3f ms%n", what, BATCH, fill / 1e6 / reps, apply / 1e6 / reps);
    }

    /** BATCH requests of TOKENS tokens each, the first {@code constrained} under the grammar, all with {@code bias}. */
    private static void run(Engine engine, Tokenizer tok, Constraint c, Map<Integer, Float> bias, int constrained) throws Exception {
        List<RequestHandle> handles = new ArrayList<>();
        for (int i = 0; i < BATCH; i++) {
            SamplingParams.Builder b = SamplingParams.builder().temperature(1).seed((long) i).maxNewTokens(TOKENS).ignoreEos(true).logitBias(bias);
            if (i < constrained) b.constraint(c);
            handles.add(engine.submit(new Request("r" + i + "-" + System.nanoTime(), tok.encode("Write something, number " + i, true), b.build())));
        }
        for (RequestHandle h : handles) {
            Output o;
            while ((o = h.poll(120, TimeUnit.SECONDS)) != null) {
                if (o.finished() && !o.finish().type().equals("length")) throw new IllegalStateException("ended early: " + o.finish());
            }
        }
    }
}
