package kiln.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import kiln.config.ModelConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Set;

/** End-of-sequence ids: config.json's eos_token_id plus generation_config.json's, as transformers' generate uses. */
public final class EosIds {
    private EosIds() {}

    public static Set<Integer> resolve(ModelConfig config, Path modelDir) {
        Set<Integer> ids = new LinkedHashSet<>(config.eosTokenIds());
        Path gen = modelDir == null ? null : (Files.isDirectory(modelDir) ? modelDir : modelDir.getParent()).resolve("generation_config.json");
        if (gen != null && Files.exists(gen)) {
            try {
                JsonNode eos = new ObjectMapper().readTree(gen.toFile()).path("eos_token_id");
                if (eos.isArray()) eos.forEach(n -> ids.add(n.asInt()));
                else if (eos.isNumber()) ids.add(eos.asInt());
            } catch (IOException e) {
                throw new kiln.config.ConfigException(gen + ": not valid JSON (" + e.getMessage() + ")");
            }
        }
        return ids;
    }
}
