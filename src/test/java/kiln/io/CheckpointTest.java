package kiln.io;

import kiln.backend.cpu.CpuBackend;
import kiln.config.ConfigException;
import kiln.config.ModelConfig;
import kiln.model.Fixture;
import kiln.model.Model;
import kiln.model.Models;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Broken checkpoints fail with a message naming the file and the tensor; stored precision is kept. */
class CheckpointTest {
    @TempDir
    Path tmp;

    /** A copy of a fixture checkpoint (config, index, shards) to break. */
    private Path copy(String fixture) throws IOException {
        Path src = Fixture.ROOT.resolve(fixture), dst = tmp.resolve(fixture);
        Files.createDirectories(dst);
        try (Stream<Path> files = Files.list(src)) {
            for (Path f : files.toList()) {
                if (!f.getFileName().toString().startsWith("reference")) Files.copy(f, dst.resolve(f.getFileName()));
            }
        }
        return dst;
    }

    private static String loadError(Path dir) {
        RuntimeException e = assertThrows(RuntimeException.class, () -> Models.load(dir, Models.LoadFormat.AUTO, new CpuBackend()).close());
        return e.getMessage();
    }

    @Test
    void aMissingShardIsNamedWithTheIndex() throws IOException {
        Path dir = copy("deepseek-v3-tiny");
        Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
        String msg = loadError(dir);
        assertTrue(msg.contains("model.safetensors.index.json") && msg.contains("model-00002-of-00002.safetensors"), msg);
    }

    @Test
    void aTruncatedFileIsNamedWithTheTensorThatRunsPastItsEnd() throws IOException {
        Path dir = copy("llama-tiny");
        Path file = dir.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(file);
        Files.write(file, java.util.Arrays.copyOf(bytes, bytes.length - 1000));
        String msg = loadError(dir);
        assertTrue(msg.contains("model.safetensors") && msg.contains("truncated") && msg.contains("tensor"), msg);
    }

    @Test
    void aMissingTensorIsNamed() throws IOException {
        Path dir = copy("qwen2-tiny");
        rewrite(dir.resolve("model.safetensors"), "model.layers.1.self_attn.k_proj.bias", "model.layers.1.self_attn.k_proj.bia_");
        String msg = loadError(dir);
        assertTrue(msg.contains("model.layers.1.self_attn.k_proj.bias") && msg.contains("missing"), msg);
    }

    @Test
    void aTensorOfTheWrongShapeOrDtypeIsNamedWithBothShapes() throws IOException {
        Path dir = copy("llama-tiny");
        // config says 8 heads x 32: q_proj [256, 256]; a config with 4 heads of 64 keeps q_proj but shrinks k/v
        String cfg = Files.readString(dir.resolve("config.json")).replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 4");
        Files.writeString(dir.resolve("config.json"), cfg);
        String msg = loadError(dir);
        assertTrue(msg.contains("model.safetensors") && msg.contains("k_proj.weight") && msg.contains("[64, 256]") && msg.contains("[128, 256]"), msg);

        Path dir2 = tmp.resolve("dtype");
        Files.createDirectories(dir2);
        Files.copy(Fixture.ROOT.resolve("llama-tiny/config.json"), dir2.resolve("config.json"));
        Files.copy(Fixture.ROOT.resolve("llama-tiny/model.safetensors"), dir2.resolve("model.safetensors"));
        rewrite(dir2.resolve("model.safetensors"), "\"model.norm.weight\":{\"dtype\":\"BF16\"", "\"model.norm.weight\":{\"dtype\":\"I16\" ");
        String msg2 = loadError(dir2);
        assertTrue(msg2.contains("model.norm.weight") && msg2.contains("I16"), msg2);
    }

    @Test
    void anUnknownArchitectureListsTheSupportedOnes() throws IOException {
        Path dir = copy("llama-tiny");
        Files.writeString(dir.resolve("config.json"), Files.readString(dir.resolve("config.json")).replace("LlamaForCausalLM", "MistralForCausalLM"));
        ConfigException e = assertThrows(ConfigException.class, () -> Models.load(dir, Models.LoadFormat.AUTO, new CpuBackend()));
        assertTrue(e.getMessage().contains("MistralForCausalLM") && e.getMessage().contains("DeepseekV3ForCausalLM")
                && e.getMessage().contains("Qwen2ForCausalLM"), e.getMessage());
    }

    @Test
    void theMtpLayerIsSkippedAndFp8StaysOneBytePerWeight() throws IOException {
        Path dir = Fixture.ROOT.resolve("deepseek-v3-tiny-fp8");
        try (Checkpoint c = Checkpoint.open(dir); Model m = Models.load(dir, Models.LoadFormat.AUTO, new CpuBackend())) {
            assertTrue(c.has("model.layers.4.eh_proj.weight"), "the fixture has an MTP layer");
            assertEquals(4, m.config().numLayers());
            long fileBytes = c.all().values().stream().filter(t -> !t.name().startsWith("model.layers.4.")).mapToLong(t -> t.data().byteSize()).sum();
            // weights are read in place; only MLA's absorbed kv_b_proj (float, small) and the norms are widened
            assertTrue(m.weightBytes() < 1.6 * fileBytes, m.weightBytes() + " bytes held for " + fileBytes + " in the files");
        }
        Path bf16 = Fixture.ROOT.resolve("llama-tiny");
        try (Checkpoint c = Checkpoint.open(bf16); Model m = Models.load(bf16, Models.LoadFormat.AUTO, new CpuBackend())) {
            long fileBytes = c.all().values().stream().mapToLong(t -> t.data().byteSize()).sum();
            assertTrue(m.weightBytes() < 1.02 * fileBytes, m.weightBytes() + " bytes held for " + fileBytes + " in the file");
        }
    }

    @Test
    void dummyWeightsAreDeterministicAndFiniteForTheRealArchitectures() {
        for (String name : new String[]{"r1-arch-mini", "deepseek-v2-lite", "deepseek-r1-distill-qwen-1.5b", "deepseek-r1-distill-llama-8b", "deepseek-r1"}) {
            // the real configs, cut to sizes a CI machine holds
            String cut = "{\"num_hidden_layers\": 2, \"first_k_dense_replace\": 1, \"vocab_size\": 4096, \"n_routed_experts\": 16, "
                    + "\"n_group\": 4, \"topk_group\": 2, \"hidden_size\": 512, \"intermediate_size\": 1024, \"moe_intermediate_size\": 256, "
                    + "\"num_attention_heads\": 8, \"num_key_value_heads\": " + (name.contains("distill") ? 2 : 8) + "}";
            ModelConfig config = ModelConfig.load(Path.of("configs", name + ".json"), cut);
            float[] a, b;
            try (Model m = Models.load(config, null, Models.LoadFormat.DUMMY, new CpuBackend())) {
                a = logits(m);
            }
            try (Model m = Models.load(config, null, Models.LoadFormat.DUMMY, new CpuBackend())) {
                b = logits(m);
            }
            for (float v : a) assertTrue(Float.isFinite(v), name + ": dummy weights gave a non-finite logit");
            org.junit.jupiter.api.Assertions.assertArrayEquals(a, b, name + ": dummy weights differ between loads");
        }
    }

    private static float[] logits(Model m) {
        try (var gen = new kiln.engine.SimpleGenerator(m, 64)) {
            return gen.step(java.util.List.of(gen.start(new int[]{5, 6, 7, 8})), 0, false);
        }
    }

    /** Replaces text inside a safetensors JSON header, keeping its length. */
    private static void rewrite(Path file, String from, String to) throws IOException {
        assertEquals(from.length(), to.length(), "replacement must keep the header length");
        byte[] bytes = Files.readAllBytes(file);
        long headerLen = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(bytes, 8, (int) headerLen, StandardCharsets.UTF_8);
        assertTrue(header.contains(from), "header has no " + from);
        byte[] h = header.replace(from, to).getBytes(StandardCharsets.UTF_8);
        System.arraycopy(h, 0, bytes, 8, h.length);
        Files.write(file, bytes);
    }
}
