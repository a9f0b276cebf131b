package kiln.engine;

import kiln.backend.Backend;
import kiln.backend.LogitConstraints;
import kiln.backend.Tensor;
import kiln.engine.StepPlanner.Entry;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Structured output's masks and logit_bias for one step. Before the forward, {@link #start} hands the masks of the
 * step's constrained samples to the mask worker (a thread of its own), so they are computed while the forward runs;
 * after it, {@link #apply} joins them and has the backend write masks and biases into the logits
 * ({@link Backend#constrain}: in place on the device, a bitmask upload), before sampling and logprobs read them.
 * n-siblings share their parent's row on their first sample, where every sibling's grammar is at its start: the
 * parent's mask is theirs.
 */
final class StepConstraints {
    /** What a step applies: the mask rows and their masks (being filled on the worker), and the bias entries. */
    record Pending(int[] maskRows, CompletableFuture<long[]> masks, int words, int[] biasRows, int[] biasIds, float[] biasValues) {}

    private final Backend backend;
    private final int vocab;
    private ExecutorService worker;

    StepConstraints(Backend backend, int vocab) {
        this.backend = backend;
        this.vocab = vocab;
    }

    /** Starts the masks of the entries' constrained samples on the worker; null when the step has no constraint or bias. */
    Pending start(List<Entry> entries) {
        List<Integer> maskRows = new ArrayList<>(), biasRows = new ArrayList<>(), biasIds = new ArrayList<>();
        List<Float> biasValues = new ArrayList<>();
        List<GrammarState> states = new ArrayList<>();
        List<List<Integer>> stops = new ArrayList<>();
        int row = 0;
        for (Entry e : entries) {
            row += e.promptLogprobPositions().length;
            if (!e.samples()) continue;
            int r = row++;
            Sequence s = e.seq();
            SamplingParams p = s.params();
            if (p.maxNewTokens() == 0) continue;
            if (s.grammar != null && s.grammar.active()) {
                maskRows.add(r);
                states.add(s.grammar);
                stops.add(p.stopTokenIds());
            }
            for (var b : p.logitBias().entrySet()) {
                biasRows.add(r);
                biasIds.add(b.getKey());
                biasValues.add(b.getValue());
            }
        }
        if (maskRows.isEmpty() && biasRows.isEmpty()) return null;
        int words = (vocab + 63) / 64;
        CompletableFuture<long[]> masks;
        if (states.isEmpty()) {
            masks = CompletableFuture.completedFuture(new long[0]);
        } else {
            masks = CompletableFuture.supplyAsync(() -> {
                long[] all = new long[states.size() * words];
                for (int i = 0; i < states.size(); i++) System.arraycopy(states.get(i).fillMask(stops.get(i)), 0, all, i * words, words);
                return all;
            }, worker());
        }
        float[] values = new float[biasValues.size()];
        for (int i = 0; i < values.length; i++) values[i] = biasValues.get(i);
        return new Pending(ints(maskRows), masks, words, ints(biasRows), ints(biasIds), values);
    }

    /** The forward's logits with the step's masks (joined from the worker) and biases written in; {@code logits} when none. */
    Tensor apply(Pending p, Tensor logits) {
        if (p == null) return logits;
        long[] masks = p.masks().join();
        return backend.constrain(logits, new LogitConstraints(p.maskRows(), masks, p.words(), p.biasRows(), p.biasIds(), p.biasValues()));
    }

    /** Stops the mask worker (the scheduler's loop has ended). */
    void close() {
        if (worker != null) worker.shutdownNow();
    }

    private ExecutorService worker() {
        if (worker == null) {
            worker = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "kiln-grammar-masks");
                t.setDaemon(true);
                return t;
            });
        }
        return worker;
    }

    private static int[] ints(List<Integer> l) {
        return l.stream().mapToInt(Integer::intValue).toArray();
    }
}
