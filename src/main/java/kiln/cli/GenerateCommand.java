package kiln.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import kiln.backend.Backend;
import kiln.backend.Backends;
import kiln.backend.cuda.CudaBackend;
import kiln.backend.cuda.CudaGraphRunner;
import kiln.config.ModelConfig;
import kiln.engine.SimpleGenerator;
import kiln.model.Model;
import kiln.model.Models;
import kiln.tokenizer.Tokenizer;
import kiln.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;

/** {@code kiln generate}: offline generation without a server, with throughput figures. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate from a prompt offline (no server) and report prefill/decode speed.")
final class GenerateCommand implements Callable<Integer> {
    @Option(names = {"--model-path", "--model"}, required = true, description = "HuggingFace checkpoint directory (config.json + safetensors).")
    Path modelPath;

    @Option(names = "--input-ids", split = ",", description = "Prompt as token ids, comma-separated.")
    int[] inputIds;

    @Option(names = "--prompt", description = "Prompt text, encoded with the model's tokenizer (BOS added as tokenizer_config.json asks).")
    String prompt;

    @Option(names = "--max-new-tokens", defaultValue = "32", description = "Tokens to generate (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--seed", defaultValue = "0", description = "Sampling seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--load-format", defaultValue = "auto", description = "auto (read the checkpoint) or dummy (random weights from config.json).")
    String loadFormat;

    @Option(names = "--json-model-override-args", description = "JSON merged into config.json, e.g. '{\"num_hidden_layers\": 4}'.")
    String overrides;

    @Option(names = "--batch", defaultValue = "1", description = "Decode this many copies of the prompt together (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--chunked-prefill-size", defaultValue = "-1", description = "Prefill at most this many tokens per step (-1: whole prompt).")
    int chunk;

    @Option(names = "--json", description = "Print one JSON line with output ids and speeds.")
    boolean json;

    @Option(names = "--warmup", defaultValue = "0", description = "Untimed runs first, so that the figures exclude JIT warm-up (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--device", defaultValue = "auto", description = "auto (GPU when one is usable), cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--dtype", defaultValue = "auto", description = "GPU activation precision: auto (= bfloat16), bfloat16 or float32 (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--kv-cache-dtype", defaultValue = "auto", description = "auto (the backend's own) or fp8_e4m3: DeepSeek's MLA latent cache as e4m3 bytes (on the GPU written, and refused until its GPU checks pass) (default: ${DEFAULT-VALUE}).")
    String kvCacheDtype;

    @Mixin
    ParallelFlags parallel = new ParallelFlags();

    @Option(names = "--cuda-graph-max-bs", defaultValue = "160", description = "Largest decode batch replayed as a CUDA graph (default: ${DEFAULT-VALUE}).")
    int cudaGraphMaxBs;

    @Option(names = "--disable-cuda-graph", description = "Run decode steps eagerly on the GPU.")
    boolean disableCudaGraph;

    @Override
    public Integer call() throws Exception {
        if ((inputIds == null) == (prompt == null)) throw new IllegalArgumentException("give exactly one of --prompt and --input-ids");
        Tokenizer tokenizer = Tokenizers.present(modelPath) ? Tokenizers.load(modelPath) : null;
        if (prompt != null) {
            if (tokenizer == null) {
                throw new IllegalArgumentException("--prompt: " + modelPath + " has no tokenizer.json (this model ships no tokenizer); give the prompt with --input-ids");
            }
            inputIds = tokenizer.encode(prompt, true);
            if (inputIds.length == 0) throw new IllegalArgumentException("--prompt encodes to no tokens");
        }
        if (batch < 1 || maxNewTokens < 1) throw new IllegalArgumentException("--batch and --max-new-tokens must be at least 1");
        Models.LoadFormat format = switch (loadFormat) {
            case "auto" -> Models.LoadFormat.AUTO;
            case "dummy" -> Models.LoadFormat.DUMMY;
            default -> throw new IllegalArgumentException("--load-format must be auto or dummy, not " + loadFormat);
        };
        ModelConfig config = ModelConfig.load(modelPath, overrides);
        if (!kvCacheDtype.equals("auto") && !kvCacheDtype.equals("fp8_e4m3")) {
            throw new IllegalArgumentException("--kv-cache-dtype must be auto or fp8_e4m3, not " + kvCacheDtype);
        }
        boolean fp8Kv = kvCacheDtype.equals("fp8_e4m3");
        if (fp8Kv) ServeCommand.checkFp8KvCache(config, modelPath.toString());
        for (int id : inputIds) {
            if (id < 0 || id >= config.vocabSize()) {
                throw new IllegalArgumentException((prompt != null ? "--prompt: token " : "--input-ids: ") + id + " is outside the model's vocabulary [0, " + config.vocabSize() + ")");
            }
        }
        try (Backend backend = Backends.create(parallel.device(device), dtype, fp8Kv);
             Model model = withGraphs(Models.load(config, modelPath, format, backend, parallel.tp));
             SimpleGenerator gen = new SimpleGenerator(model, (warmup + 1) * batch * (inputIds.length + maxNewTokens))) {
            Run run = null;
            for (int i = 0; i <= warmup; i++) run = generateOnce(model, gen);
            long t0 = run.t0, t1 = run.t1, t2 = run.t2;
            List<SimpleGenerator.Sequence> seqs = run.seqs;
            int[] out = Arrays.copyOfRange(seqs.get(0).tokens(), inputIds.length, inputIds.length + maxNewTokens);
            String text = tokenizer == null ? null : tokenizer.decode(out, true);
            double prefillS = (t1 - t0) / 1e9, decodeS = (t2 - t1) / 1e9;
            double prefillRate = batch * inputIds.length / prefillS;
            double decodeRate = maxNewTokens > 1 ? batch * (maxNewTokens - 1) / decodeS : 0;
            if (json) {
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("output_ids", out);
                if (text != null) r.put("text", text);
                r.put("prefill_tokens_per_s", prefillRate);
                r.put("decode_tokens_per_s", decodeRate);
                r.put("prompt_tokens", inputIds.length);
                r.put("new_tokens", maxNewTokens);
                r.put("batch", batch);
                r.put("prefill_seconds", prefillS);
                r.put("decode_seconds", decodeS);
                r.put("weight_bytes", model.weightBytes());
                r.put("decode_bytes_per_token", model.decodeBytesPerToken());
                r.put("backend", model.backend().name());
                System.out.println(new ObjectMapper().writeValueAsString(r));
            } else {
                System.out.println("output_ids: " + Arrays.toString(out));
                if (text != null) System.out.println("text: " + text);
                System.out.printf("prefill: %d tokens x %d in %.3f s (%.1f tok/s); decode: %.1f tok/s%n",
                        inputIds.length, batch, prefillS, prefillRate, decodeRate);
            }
        }
        return 0;
    }

    private record Run(List<SimpleGenerator.Sequence> seqs, long t0, long t1, long t2) {}

    private Run generateOnce(Model model, SimpleGenerator gen) {
        List<SimpleGenerator.Sequence> seqs = new ArrayList<>();
        for (int b = 0; b < batch; b++) seqs.add(gen.start(inputIds));
        Random random = new Random(seed);
        int vocab = model.config().vocabSize();
        long t0 = System.nanoTime();
        float[] logits = null;
        for (int fed = 0; fed < inputIds.length; fed += chunk > 0 ? chunk : inputIds.length) logits = gen.step(seqs, chunk, false);
        long t1 = System.nanoTime();
        for (int step = 0; step < maxNewTokens; step++) {
            for (int b = 0; b < batch; b++) gen.append(seqs.get(b), pick(logits, b, vocab, random));
            if (step + 1 < maxNewTokens) logits = gen.step(seqs, 0, false);
        }
        return new Run(seqs, t0, t1, System.nanoTime());
    }

    private Model withGraphs(Model m) {
        return m.backend() instanceof CudaBackend && !disableCudaGraph ? new CudaGraphRunner(m, cudaGraphMaxBs) : m;
    }

    private int pick(float[] logits, int row, int vocab, Random random) {
        if (temperature <= 0) return SimpleGenerator.argmax(logits, row, vocab);
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) max = Math.max(max, logits[row * vocab + i]);
        double[] p = new double[vocab];
        double sum = 0;
        for (int i = 0; i < vocab; i++) sum += p[i] = Math.exp((logits[row * vocab + i] - max) / temperature);
        double u = random.nextDouble() * sum;
        for (int i = 0; i < vocab; i++) if ((u -= p[i]) <= 0) return i;
        return vocab - 1;
    }
}
