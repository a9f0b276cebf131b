package kiln.backend;

/**
 * Rotary embedding parameters: per frequency i, angle = position * invFreq[i]; cos/sin are multiplied by
 * {@code attentionFactor} (YaRN). {@code interleaved}: pairs are (x[2i], x[2i+1]) as in DeepSeek's checkpoints;
 * otherwise (x[i], x[i + d/2]) as in Llama and Qwen2.
 */
public record Rope(float[] invFreq, float attentionFactor, boolean interleaved) {
    public int dim() {
        return invFreq.length * 2;
    }
}
