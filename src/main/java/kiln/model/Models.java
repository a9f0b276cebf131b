package kiln.model;

import kiln.Log;
import kiln.backend.Backend;
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
     * caller's), each loading its own part of the weights from its own source.
     */
    public static Model load(ModelConfig config, Path dir, LoadFormat format, Backend backend, int tp) {
        checkSupported(config);
        if (tp < 1) throw new ConfigException("--tp must be at least 1, not " + tp);
        long start = System.nanoTime();
        Model m;
        if (tp == 1) {
            m = loadRank(config, dir, format, backend);
        } else {
            RankGroup group = Backends.group(backend, tp);
            m = TensorParallelModel.load(group, r -> loadRank(config, dir, format, group.rank(r)));
        }
        Log.info("Load weight end. type=%s, backend=%s, tp=%d, weights=%.2f GB, took %.1f s", config.architecture(),
                backend.name(), tp, m.weightBytes() / 1e9, (System.nanoTime() - start) / 1e9);
        return m;
    }

    /** One rank's model (the whole model on a backend alone), reading from its own source. */
    static Model loadRank(ModelConfig config, Path dir, LoadFormat format, Backend backend) {
        WeightSource source = format == LoadFormat.DUMMY ? new DummySource(config.fp8BlockSize())
                : new CheckpointSource(Checkpoint.open(dir));
        try {
            return switch (config.architecture()) {
                case "DeepseekV3ForCausalLM", "DeepseekV2ForCausalLM" -> new Deepseek(config, source, backend);
                default -> new Llama(config, source, backend);
            };
        } catch (RuntimeException e) {
            source.close();
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
