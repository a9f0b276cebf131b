package kiln.backend;

/** What one token's cache entry holds in each layer. */
public sealed interface KvLayout {
    int layers();

    /** Floats stored per token per layer. */
    int valuesPerToken();

    /** Refuses an FP8 cache ({@code --kv-cache-dtype fp8_e4m3}) of any layout but MLA's latent one, the only one built in FP8. */
    default void checkFp8() {
        if (!(this instanceof Mla)) {
            throw new IllegalArgumentException("--kv-cache-dtype fp8_e4m3: only DeepSeek's MLA latent cache is built in FP8, and this model's "
                    + "cache is grouped-query attention (" + this + "); pass --kv-cache-dtype auto");
        }
    }

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
