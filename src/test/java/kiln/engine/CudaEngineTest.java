package kiln.engine;

/**
 * The engine tests on the GPU (float32, so greedy output is batch-invariant), decode behind CUDA graphs: the
 * scheduler thread drives the model while the backend's device thread owns the CUDA context, as in `kiln serve
 * --device cuda`. Skipped where no GPU is usable (CI).
 */
class CudaEngineTest extends EngineTest {
    @Override
    protected Placement placement() {
        return Placement.CUDA_GRAPHS;
    }

    /**
     * Not run here (an override without @Test): stop strings are text handling after the backend, covered by
     * EngineTest, and the bundled tokenizer's chat template needs jinjava, which the device payload for the
     * tests leaves out to fit the 64 MiB a device call carries.
     */
    @Override
    void stopStringsMatchAcrossTokenBoundariesAndStayOutOfTheText() {}
}
