package kiln.engine;

import kiln.backend.Backend;
import kiln.backend.cuda.CudaGraphRunner;
import kiln.model.Model;

/**
 * The engine tests on the GPU (float32, so greedy output is batch-invariant), decode behind CUDA graphs: the
 * scheduler thread drives the model while the backend's device thread owns the CUDA context, as in `kiln serve
 * --device cuda`. Skipped where no GPU is usable (CI).
 */
class CudaEngineTest extends EngineTest {
    @Override
    protected Backend backend() {
        return kiln.model.CudaFixtureAccess.cudaFloat32();
    }

    @Override
    protected Model prepare(Model model) {
        return new CudaGraphRunner(model, 32);
    }
}
