package kiln.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import kiln.config.ConfigException;
import kiln.config.ModelConfig;

import java.io.IOException;
import java.io.InputStream;

/**
 * The model {@code kiln serve} runs when given no {@code --model-path}: DeepSeek-R1's architecture shrunk to a
 * few million parameters (MLA with q LoRA, 16 experts in 4 groups, FP8 128x128 block weights, YaRN), with
 * deterministic dummy weights, DeepSeek's real vocabulary and tokenizer, and R1's chat template. It works offline
 * on any machine and exercises the whole serving path; what it writes is not meaningful text.
 */
public final class DefaultModel {
    private DefaultModel() {}

    public static final String NAME = "kiln-default-r1-tiny";
    private static final String RESOURCE = "/kiln/default-model/config.json";

    /** The embedded config.json, with {@code overrideJson} (as --json-model-override-args) merged in when given. */
    public static ModelConfig config(String overrideJson) {
        ObjectMapper json = new ObjectMapper();
        try (InputStream in = DefaultModel.class.getResourceAsStream(RESOURCE)) {
            if (in == null) throw new ConfigException("the embedded default model config " + RESOURCE + " is missing from the build");
            ObjectNode node = (ObjectNode) json.readTree(in);
            if (overrideJson != null && !overrideJson.isBlank()) node.setAll((ObjectNode) json.readTree(overrideJson));
            return ModelConfig.parse(node, "embedded default model (" + NAME + ")");
        } catch (IOException | ClassCastException e) {
            throw new ConfigException("embedded default model config with overrides " + overrideJson + ": " + e.getMessage());
        }
    }
}
