package kiln.cli;

import kiln.backend.Backend;
import kiln.backend.cpu.CpuBackend;
import kiln.config.ModelConfig;
import kiln.engine.Engine;
import kiln.engine.EngineConfig;
import kiln.engine.EngineStats;
import kiln.engine.Output;
import kiln.engine.Request;
import kiln.engine.RequestHandle;
import kiln.engine.SamplingParams;
import kiln.model.Model;
import kiln.model.Models;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * {@code kiln engine-bench}: the engine alone (no HTTP, no tokenizer), closed loop at each concurrency: output
 * tokens/s, and the mean batch and wall time of the steps that only decoded.
 */
@Command(name = "engine-bench", mixinStandardHelpOptions = true,
        description = "Engine-only throughput at several concurrencies (no HTTP).")
final class EngineBenchCommand implements Callable<Integer> {
    @Option(names = {"--model-path", "--model"}, required = true) Path modelPath;
    @Option(names = "--load-format", defaultValue = "dummy") String loadFormat;
    @Option(names = "--concurrency", split = ",", defaultValue = "1,4,16,64") int[] concurrency;
    @Option(names = "--input-len", defaultValue = "128") int inputLen;
    @Option(names = "--output-len", defaultValue = "64") int outputLen;
    @Option(names = "--rounds", defaultValue = "2", description = "Requests per slot at each concurrency (default: ${DEFAULT-VALUE}).") int rounds;
    @Option(names = "--max-total-tokens", defaultValue = "65536") int maxTotalTokens;
    @Mixin ParallelFlags parallel = new ParallelFlags();

    @Override
    public Integer call() throws Exception {
        parallel.device("cpu");
        ModelConfig config = ModelConfig.load(modelPath);
        Backend backend = new CpuBackend();
        try (Model model = Models.load(config, modelPath, loadFormat.equals("dummy") ? Models.LoadFormat.DUMMY : Models.LoadFormat.AUTO, backend, parallel.tp);
             Engine engine = new Engine(model, EngineConfig.defaults().withMaxTotalTokens(maxTotalTokens)
                     .withMaxRunningRequests(Math.max(256, max(concurrency))), Set.of(), null)) {
            Random random = new Random(1);
            run(engine, 1, random); // warm-up
            System.out.println("concurrency,requests,output_tokens,seconds,output_tokens_per_s,decode_steps,mean_decode_batch,decode_step_ms");
            for (int c : concurrency) {
                EngineStats before = engine.stats();
                double[] r = run(engine, c, random);
                EngineStats after = engine.stats();
                long steps = after.decodeSteps() - before.decodeSteps();
                double batch = steps == 0 ? 0 : (double) (after.decodeStepSequences() - before.decodeStepSequences()) / steps;
                double stepMs = steps == 0 ? 0 : (after.decodeStepNanos() - before.decodeStepNanos()) / 1e6 / steps;
                System.out.printf("%d,%d,%d,%.3f,%.2f,%d,%.1f,%.2f%n", c, (int) r[0], (int) r[1], r[2], r[1] / r[2], steps, batch, stepMs);
            }
        }
        return 0;
    }

    /** Keeps {@code c} requests in flight until c * rounds have finished. */
    private double[] run(Engine engine, int c, Random random) throws InterruptedException {
        int total = c * rounds, vocab = engine.model().config().vocabSize();
        List<Thread> clients = new ArrayList<>();
        long[] tokens = new long[c];
        long t0 = System.nanoTime();
        for (int i = 0; i < c; i++) {
            int slot = i;
            int[][] prompts = new int[rounds][inputLen];
            for (int[] p : prompts) for (int j = 0; j < inputLen; j++) p[j] = 3 + random.nextInt(vocab - 3);
            clients.add(Thread.ofVirtual().start(() -> {
                for (int[] p : prompts) {
                    RequestHandle h = engine.submit(new Request(Engine.newRequestId(), p,
                            SamplingParams.builder().temperature(0).maxNewTokens(outputLen).ignoreEos(true).build()));
                    try {
                        Output o;
                        while ((o = h.next()) != null) tokens[slot] += o.tokenIds().length;
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }));
        }
        for (Thread t : clients) t.join();
        double seconds = (System.nanoTime() - t0) / 1e9;
        long sum = 0;
        for (long t : tokens) sum += t;
        return new double[]{total, sum, seconds};
    }

    private static int max(int[] v) {
        int m = 0;
        for (int x : v) m = Math.max(m, x);
        return m;
    }
}
