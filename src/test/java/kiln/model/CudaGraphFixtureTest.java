package kiln.model;

import kiln.backend.Backend;
import kiln.backend.cuda.CudaGraphRunner;

/** The fixture checks with decode steps replayed as CUDA graphs (float32). Skipped where no GPU is usable. */
class CudaGraphFixtureTest extends FixtureTest {
    @Override
    protected Backend backend() {
        return CudaFixtureTest.cudaFloat32();
    }

    @Override
    protected Model prepare(Model model) {
        return new CudaGraphRunner(model, 8);
    }
}
