package kiln.engine;

/**
 * The engine tests with deepseek-v3-tiny's latent cache in FP8 on the CPU ({@code --kv-cache-dtype fp8_e4m3}):
 * batching, chunking, prefix reuse (of FP8 entries), retraction, aborts, seeds and n > 1 keep each request's output
 * what the model gives alone over the same cache. qwen2-tiny (grouped-query attention) keeps its float cache.
 */
class Fp8KvCacheEngineTest extends EngineTest {
    @Override
    protected Placement placement() {
        return Placement.CPU_FP8_KV_CACHE;
    }
}
