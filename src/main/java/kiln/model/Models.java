package kiln.model;

import kiln.Log;
import kiln.backend.Backend;
import kiln.backend.DeviceMemoryException;
import kiln.backend.Backends;
import kiln.backend.RankGroup;
import kiln.config.ConfigException;
import kiln.config.ModelConfig;
import kiln.io.Checkpoint;

import java.nio.file.Path;
import java.util.List;

/** Builds a model from a checkpoint directory (or its config alone, with dummy weights). */
public final class Models {
    private Models() {}

    public enum LoadFormat {AUTO, DUMMY}

    public static final List<String> ARCHITECTURES = List.of(
            "DeepseekV3ForCausalLM", "DeepseekV2ForCausalLM", "Qwen2ForCausalLM", "LlamaForCausalLM");

    public static Model load(Path dir, LoadFormat format, Backend backend) {
        return load(ModelConfig.load(dir), dir, format, backend);
    }

    public static Model load(ModelConfig config, Path dir, LoadFormat format, Backend backend) {
        return load(config, dir, format, backend, 1);
    }

    public static Model load(Path dir, LoadFormat format, Backend backend, int tp) {
        return load(ModelConfig.load(dir), dir, format, backend, tp);
    }

    /**
     * With {@code tp} > 1, a {@link TensorParallelModel} of tp ranks set up like {@code backend} (which stays the
     * caller's), each loading its own part of the weights from its own source, in parallel; one set of progress
     * lines follows them all.
     */
    public static Model load(ModelConfig config, Path dir, LoadFormat format, Backend backend, int tp) {
        checkSupported(config);
        if (tp < 1) throw new ConfigException("--tp must be at least 1, not " + tp);
        long start = System.nanoTime();
        Log.info("Load weight begin. type=%s, backend=%s, tp=%d, format=%s", config.architecture(), backend.name(), tp,
                format.name().toLowerCase(java.util.Locale.ROOT));
        LoadProgress progress = new LoadProgress(tp);
        Model m;
        if (tp == 1) {
            m = loadRank(config, dir, format, backend, Shard.WHOLE, progress, 0);
        } else {
            RankGroup group = Backends.group(backend, tp);
            m = TensorParallelModel.load(group, r -> loadRank(config, dir, format, group.rank(r), Shard.of(group.rank(r)), progress, r));
        }
        Log.info("Load weight end. type=%s, backend=%s, tp=%d, weights=%.2f GB, took %.1f s", config.architecture(),
                backend.name(), tp, m.weightBytes() / 1e9, (System.nanoTime() - start) / 1e9);
        return m;
    }

    /**
     * Rank {@code shard} of a tensor-parallel model, loaded alone on {@code backend} (a backend of no group): what one
     * rank of a larger group holds and how long it takes to load, measured on one device (`kiln load --rank`). The
     * model reports its weights and KV budget as that rank would; it runs no forward (it has no other ranks to meet
     * in the collectives).
     */
    public static Model loadRankAlone(ModelConfig config, Path dir, LoadFormat format, Backend backend, Shard shard) {
        checkSupported(config);
        if (backend.tpSize() != 1) throw new IllegalArgumentException("a rank loaded alone needs a backend of no group, not " + backend.name());
        long start = System.nanoTime();
        Log.info("Load weight begin. type=%s, backend=%s, rank %d of tp %d alone, format=%s", config.architecture(), backend.name(),
                shard.rank(), shard.size(), format.name().toLowerCase(java.util.Locale.ROOT));
        Model m = loadRank(config, dir, format, backend, shard, new LoadProgress(1), 0);
        Log.info("Load weight end. type=%s, backend=%s, rank %d of tp %d alone, weights=%.2f GB, took %.1f s", config.architecture(),
                backend.name(), shard.rank(), shard.size(), m.weightBytes() / 1e9, (System.nanoTime() - start) / 1e9);
        return m;
    }

    /** One rank's model (the whole model on a backend alone), reading from its own source. */
    static Model loadRank(ModelConfig config, Path dir, LoadFormat format, Backend backend) {
        return loadRank(config, dir, format, backend, Shard.of(backend), new LoadProgress(1), 0);
    }

    private static Model loadRank(ModelConfig config, Path dir, LoadFormat format, Backend backend, Shard shard,
                                  LoadProgress progress, int rankInProgress) {
        WeightSource source = format == LoadFormat.DUMMY ? new DummySource(config.fp8BlockSize())
                : new CheckpointSource(Checkpoint.open(dir));
        Weights weights = new Weights(source, backend, config, shard, progress, rankInProgress);
        try {
            return switch (config.architecture()) {
                case "DeepseekV3ForCausalLM", "DeepseekV2ForCausalLM" -> new Deepseek(config, weights);
                default -> new Llama(config, weights);
            };
        } catch (RuntimeException e) {
            weights.close();
            DeviceMemoryException oom = DeviceMemoryException.in(e);
            if (oom != null) throw new ConfigException(weights.outOfMemory(oom), e);
            throw e;
        }
    }

    public static void checkSupported(ModelConfig config) {
        if (!ARCHITECTURES.contains(config.architecture())) {
            throw new ConfigException("architecture " + config.architecture() + " is not supported; Kiln runs "
                    + String.join(", ", ARCHITECTURES));
        }
    }
}
