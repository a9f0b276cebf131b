package kiln.engine;

/**
 * Structured output and logit_bias on the GPU (float32, decode behind CUDA graphs): masks and biases written into
 * the logits by logit_mask.cuh, sampling on the device with the host's draws, no step sampled on the host. Skipped
 * where no GPU is usable (CI).
 */
class CudaConstrainedDecodingTest extends ConstrainedDecodingTest {
    @Override
    protected FixtureModels.Placement placement() {
        return FixtureModels.Placement.CUDA_GRAPHS;
    }
}
