package kiln.backend;

/** What one token's cache entry holds in each layer. */
public sealed interface KvLayout {
    int layers();

    /** Floats stored per token per layer. */
    int valuesPerToken();

    /** DeepSeek MLA: the normalised latent c_kv and the rotated shared rope key. */
    record Mla(int layers, int latentDim, int ropeDim) implements KvLayout {
        public int valuesPerToken() {
            return latentDim + ropeDim;
        }
    }

    /** Grouped-query attention: per kv head a key and a value. */
    record Gqa(int layers, int kvHeads, int headDim) implements KvLayout {
        public int valuesPerToken() {
            return 2 * kvHeads * headDim;
        }
    }
}
