package kiln.engine;

import kiln.backend.Backend;
import kiln.backend.cuda.CudaGraphRunner;
import kiln.model.Model;

/**
 * The overlapped scheduler on the GPU (float32, decode behind CUDA graphs), where it is the default: future tokens
 * are resolved by the device from the sampling ring while the host applies the step before. Skipped where no GPU
 * is usable (CI).
 */
class CudaOverlapScheduleTest extends OverlapScheduleTest {
    @Override
    protected Backend backend() {
        return kiln.model.CudaFixtureAccess.cudaFloat32();
    }

    @Override
    protected Model prepare(Model model) {
        return new CudaGraphRunner(model, 32);
    }
}
