package kiln.model;

import kiln.Log;
import kiln.backend.Backend;
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
        checkSupported(config);
        long start = System.nanoTime();
        WeightSource source = format == LoadFormat.DUMMY ? new DummySource(config.fp8BlockSize())
                : new CheckpointSource(Checkpoint.open(dir));
        try {
            Model m = switch (config.architecture()) {
                case "DeepseekV3ForCausalLM", "DeepseekV2ForCausalLM" -> new Deepseek(config, source, backend);
                default -> new Llama(config, source, backend);
            };
            Log.info("Load weight end. type=%s, backend=%s, weights=%.2f GB, took %.1f s", config.architecture(),
                    backend.name(), m.weightBytes() / 1e9, (System.nanoTime() - start) / 1e9);
            return m;
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
