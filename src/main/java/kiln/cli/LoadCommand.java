package kiln.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import kiln.backend.Backend;
import kiln.backend.Backends;
import kiln.config.ModelConfig;
import kiln.model.Model;
import kiln.model.Models;
import kiln.model.Shard;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code kiln load}: loads a model as {@code kiln serve} would (weights and the KV pool's size, no engine, no
 * graphs) and reports what it holds and how long it took. With {@code --rank R} it loads only rank R of {@code --tp}
 * on the one device {@code --device} names: what one rank of a larger group holds and how long its load takes,
 * measured where the group's GPUs are not available (DeepSeek-R1 at --tp 8 on one GPU or the CPU).
 */
@Command(name = "load", mixinStandardHelpOptions = true,
        description = "Load a model (or one rank of --tp with --rank) and report its weights, load time, memory and KV pool; no generation.")
final class LoadCommand implements Callable<Integer> {
    @Option(names = {"--model-path", "--model"}, required = true, description = "Checkpoint directory or config.json (with --load-format dummy).")
    Path modelPath;

    @Option(names = "--load-format", defaultValue = "auto", description = "auto (read the checkpoint) or dummy (random weights from config.json).")
    String loadFormat;

    @Option(names = "--json-model-override-args", description = "JSON merged into config.json, e.g. '{\"num_hidden_layers\": 4}'.")
    String overrides;

    @Option(names = "--device", defaultValue = "auto", description = "auto (GPU when one is usable), cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--dtype", defaultValue = "auto", description = "GPU activation precision: auto (= bfloat16), bfloat16 or float32 (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Mixin
    ParallelFlags parallel = new ParallelFlags();

    @Option(names = "--rank", description = "Load only this rank of --tp, alone on --device (no group, no collectives): "
            + "its part of every weight and the KV pool it would get there.")
    Integer rank;

    @Option(names = "--mem-fraction-static", description = "Fraction of memory for weights and KV cache, as kiln serve "
            + "(default: the backend's, 0.88 on a GPU); the KV pool reported is what is left of it.")
    Double memFractionStatic;

    @Option(names = "--json", description = "Print one JSON line.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        Models.LoadFormat format = switch (loadFormat) {
            case "auto" -> Models.LoadFormat.AUTO;
            case "dummy" -> Models.LoadFormat.DUMMY;
            default -> throw new IllegalArgumentException("--load-format must be auto or dummy, not " + loadFormat);
        };
        String dev = parallel.device(device);
        int tp = parallel.tp;
        if (rank != null && (rank < 0 || rank >= tp)) {
            throw new IllegalArgumentException("--rank " + rank + " is not a rank of --tp " + tp + " (0 to " + (tp - 1) + ")");
        }
        if (memFractionStatic != null && !(memFractionStatic > 0 && memFractionStatic < 1)) {
            throw new IllegalArgumentException("--mem-fraction-static must be in (0, 1), not " + memFractionStatic);
        }
        ModelConfig config = ModelConfig.load(modelPath, overrides);
        try (Backend backend = Backends.create(dev, dtype)) {
            long t0 = System.nanoTime();
            try (Model model = rank == null ? Models.load(config, modelPath, format, backend, tp)
                    : Models.loadRankAlone(config, modelPath, format, backend, new Shard(rank, tp))) {
                double seconds = (System.nanoTime() - t0) / 1e9;
                double fraction = memFractionStatic != null ? memFractionStatic : model.backend().defaultMemFractionStatic();
                long perToken = model.kvBytesPerToken(), budget = model.kvMemoryBudget(fraction);
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("architecture", config.architecture());
                r.put("layers", config.numLayers());
                r.put("tp", tp);
                r.put("rank", rank == null ? "all" : rank);
                r.put("backend", model.backend().name());
                r.put("load_seconds", seconds);
                r.put("weight_bytes", model.weightBytes());
                r.put("decode_bytes_per_token", model.decodeBytesPerToken());
                r.put("host_rss_bytes", procStatus("VmRSS"));
                r.put("host_peak_rss_bytes", procStatus("VmHWM"));
                r.put("device_free_bytes", model.backend().freeMemoryBytes());
                r.put("mem_fraction_static", fraction);
                r.put("kv_bytes_per_token", perToken);
                r.put("kv_budget_bytes", budget);
                r.put("max_total_num_tokens", Math.max(0, budget / perToken));
                if (json) {
                    System.out.println(new ObjectMapper().writeValueAsString(r));
                } else {
                    System.out.printf("%s, %d layers, %s: loaded in %.1f s%n", config.architecture(), config.numLayers(),
                            rank == null ? "tp " + tp : "rank " + rank + " of tp " + tp + " alone", seconds);
                    System.out.printf("weights: %.2f GB; decode reads %.2f GB per step at batch 1%n", model.weightBytes() / 1e9,
                            model.decodeBytesPerToken() / 1e9);
                    System.out.printf("host memory: %s now, %s at peak%n", gb(procStatus("VmRSS")), gb(procStatus("VmHWM")));
                    System.out.printf("KV pool at --mem-fraction-static %.2f: %d tokens (%.2f GB, %d bytes per token); device free: %.2f GB%n",
                            fraction, Math.max(0, budget / perToken), Math.max(0, budget) / 1e9, perToken, model.backend().freeMemoryBytes() / 1e9);
                }
            }
        }
        return 0;
    }

    /** A size line of /proc/self/status in bytes ({@code VmRSS}, {@code VmHWM} = peak), or -1 where there is none. */
    static long procStatus(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(key + ":")) return Long.parseLong(line.substring(key.length() + 1).trim().split("\\s+")[0]) * 1024;
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: reported as unknown
        }
        return -1;
    }

    private static String gb(long bytes) {
        return bytes < 0 ? "unknown" : String.format("%.2f GB", bytes / 1e9);
    }
}
