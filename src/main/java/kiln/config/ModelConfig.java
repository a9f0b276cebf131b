package kiln.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A HuggingFace config.json, typed. One record for all supported architectures; fields an architecture does not
 * use keep neutral values (0, false, null).
 */
public record ModelConfig(
        String architecture,
        String modelType,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int vocabSize,
        float rmsNormEps,
        double ropeTheta,
        RopeScaling ropeScaling,
        boolean tieWordEmbeddings,
        boolean qkvBias,
        int maxPositionEmbeddings,
        int bosTokenId,
        List<Integer> eosTokenIds,
        String torchDtype,
        // Multi-head latent attention (DeepSeek)
        int qLoraRank,
        int kvLoraRank,
        int qkNopeHeadDim,
        int qkRopeHeadDim,
        int vHeadDim,
        // Mixture of experts (DeepSeek)
        int nRoutedExperts,
        int nSharedExperts,
        int numExpertsPerTok,
        int moeIntermediateSize,
        int firstKDenseReplace,
        int moeLayerFreq,
        int nGroup,
        int topkGroup,
        String topkMethod,
        String scoringFunc,
        boolean normTopkProb,
        double routedScalingFactor,
        int numNextnPredictLayers,
        /** FP8 block size [rows, cols] when the checkpoint is block-quantized, else null. */
        int[] fp8BlockSize,
        JsonNode raw) {

    private static final ObjectMapper JSON = new ObjectMapper();

    public boolean isMla() {
        return kvLoraRank > 0;
    }

    public boolean isMoeLayer(int layer) {
        return nRoutedExperts > 0 && layer >= firstKDenseReplace && layer % Math.max(1, moeLayerFreq) == 0;
    }

    public int qkHeadDim() {
        return qkNopeHeadDim + qkRopeHeadDim;
    }

    public static ModelConfig load(Path dir) {
        Path file = Files.isDirectory(dir) ? dir.resolve("config.json") : dir;
        try {
            return parse((ObjectNode) JSON.readTree(file.toFile()), file.toString());
        } catch (NoSuchFileException | java.io.FileNotFoundException e) {
            throw new ConfigException(file + ": not found (a model directory needs config.json)");
        } catch (IOException | ClassCastException e) {
            throw new ConfigException(file + ": not a valid JSON object (" + e.getMessage() + ")");
        }
    }

    /** Applies SGLang-style overrides ({@code --json-model-override-args}) before parsing. */
    public static ModelConfig load(Path dir, String overrideJson) {
        if (overrideJson == null || overrideJson.isBlank()) return load(dir);
        Path file = Files.isDirectory(dir) ? dir.resolve("config.json") : dir;
        try {
            ObjectNode base = (ObjectNode) JSON.readTree(file.toFile());
            ObjectNode over = (ObjectNode) JSON.readTree(overrideJson);
            base.setAll(over);
            return parse(base, file.toString());
        } catch (IOException | ClassCastException e) {
            throw new ConfigException(file + " with overrides " + overrideJson + ": " + e.getMessage());
        }
    }

    public static ModelConfig parse(ObjectNode j, String source) {
        String arch = j.path("architectures").path(0).asText("");
        if (arch.isEmpty()) throw new ConfigException(source + ": no \"architectures\" entry");
        int hidden = req(j, "hidden_size", source);
        int heads = req(j, "num_attention_heads", source);
        int kvHeads = j.path("num_key_value_heads").asInt(heads);
        int headDim = j.hasNonNull("head_dim") ? j.get("head_dim").asInt() : hidden / heads;
        String modelType = j.path("model_type").asText("");

        JsonNode ropeParams = j.has("rope_parameters") ? j.get("rope_parameters") : j.path("rope_scaling");
        double theta = j.has("rope_theta") ? j.get("rope_theta").asDouble()
                : ropeParams.path("rope_theta").asDouble(10000.0);
        RopeScaling scaling = parseRope(ropeParams, source);

        List<Integer> eos = new ArrayList<>();
        JsonNode eosNode = j.path("eos_token_id");
        if (eosNode.isArray()) eosNode.forEach(n -> eos.add(n.asInt()));
        else if (eosNode.isNumber()) eos.add(eosNode.asInt());

        int[] block = null;
        JsonNode q = j.path("quantization_config");
        if (q.isObject()) {
            String method = q.path("quant_method").asText("");
            if (!method.equals("fp8")) {
                throw new ConfigException(source + ": quantization_config.quant_method \"" + method
                        + "\" is not supported (Kiln reads DeepSeek's block FP8: quant_method \"fp8\")");
            }
            JsonNode bs = q.path("weight_block_size");
            block = bs.isArray() && bs.size() == 2 ? new int[]{bs.get(0).asInt(), bs.get(1).asInt()} : new int[]{128, 128};
        }
        boolean qkvBias = j.path("attention_bias").asBoolean(false) || modelType.equals("qwen2")
                || arch.equals("Qwen2ForCausalLM");
        return new ModelConfig(
                arch, modelType, hidden, j.path("intermediate_size").asInt(0), req(j, "num_hidden_layers", source),
                heads, kvHeads, headDim, req(j, "vocab_size", source),
                (float) j.path("rms_norm_eps").asDouble(1e-6), theta, scaling,
                j.path("tie_word_embeddings").asBoolean(false), qkvBias,
                j.path("max_position_embeddings").asInt(4096), j.path("bos_token_id").asInt(-1), List.copyOf(eos),
                j.path("torch_dtype").asText(j.path("dtype").asText("bfloat16")),
                j.path("q_lora_rank").asInt(0), j.path("kv_lora_rank").asInt(0),
                j.path("qk_nope_head_dim").asInt(0), j.path("qk_rope_head_dim").asInt(0), j.path("v_head_dim").asInt(0),
                j.path("n_routed_experts").asInt(0), j.path("n_shared_experts").asInt(0),
                j.path("num_experts_per_tok").asInt(0), j.path("moe_intermediate_size").asInt(0),
                j.path("first_k_dense_replace").asInt(0), j.path("moe_layer_freq").asInt(1),
                j.path("n_group").asInt(1), j.path("topk_group").asInt(1), j.path("topk_method").asText("greedy"),
                j.path("scoring_func").asText("softmax"), j.path("norm_topk_prob").asBoolean(false),
                j.path("routed_scaling_factor").asDouble(1.0), j.path("num_nextn_predict_layers").asInt(0),
                block, j);
    }

    private static RopeScaling parseRope(JsonNode r, String source) {
        if (r == null || !r.isObject()) return new RopeScaling.None();
        String type = r.has("rope_type") ? r.get("rope_type").asText() : r.path("type").asText("default");
        return switch (type) {
            case "default", "" -> new RopeScaling.None();
            case "yarn" -> new RopeScaling.Yarn(r.path("factor").asDouble(1), r.path("original_max_position_embeddings").asInt(4096),
                    r.path("beta_fast").asDouble(32), r.path("beta_slow").asDouble(1),
                    r.path("mscale").asDouble(1), r.path("mscale_all_dim").asDouble(0));
            case "llama3" -> new RopeScaling.Llama3(r.path("factor").asDouble(8), r.path("low_freq_factor").asDouble(1),
                    r.path("high_freq_factor").asDouble(4), r.path("original_max_position_embeddings").asInt(8192));
            case "linear" -> new RopeScaling.Linear(r.path("factor").asDouble(1));
            default -> throw new ConfigException(source + ": rope scaling type \"" + type
                    + "\" is not supported (supported: default, yarn, llama3, linear)");
        };
    }

    private static int req(JsonNode j, String key, String source) {
        if (!j.hasNonNull(key)) throw new ConfigException(source + ": missing \"" + key + "\"");
        return j.get(key).asInt();
    }
}
