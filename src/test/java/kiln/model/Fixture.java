package kiln.model;

import kiln.io.TensorData;

import java.nio.file.Path;

/** One tiny checkpoint of testdata/fixtures with its HuggingFace reference outputs. */
public record Fixture(String name, Path dir, int[][] prompts, float[][] logits, int[][] greedy, float[][] margins) {
    public static final String[] NAMES = {"deepseek-v3-tiny", "deepseek-v3-tiny-fp8", "deepseek-v3-tp-fp8", "deepseek-v2-lite-tiny", "qwen2-tiny",
            "llama-tiny"};
    public static final Path ROOT = Path.of("testdata", "fixtures");

    public static Fixture load(String name) {
        Path dir = ROOT.resolve(name);
        int n = 6;
        int[][] prompts = new int[n][];
        float[][] logits = new float[n][];
        int[][] greedy = new int[n][];
        float[][] margins = new float[n][];
        try (var arena = java.lang.foreign.Arena.ofConfined()) {
            var file = kiln.io.SafeTensors.open(dir.resolve("reference.safetensors"), arena);
            for (int i = 0; i < n; i++) {
                prompts[i] = file.tensors().get("p" + i + ".ids").toIntArray();
                TensorData l = file.tensors().get("p" + i + ".logits");
                logits[i] = l.toFloatArray();
                greedy[i] = file.tensors().get("p" + i + ".greedy").toIntArray();
                margins[i] = file.tensors().get("p" + i + ".margin").toFloatArray();
            }
        }
        return new Fixture(name, dir, prompts, logits, greedy, margins);
    }

    public int vocab() {
        return logits[0].length / prompts[0].length;
    }
}
