package kiln.engine;

/**
 * The overlapped scheduler on the GPU (float32, decode behind CUDA graphs), where it is the default: future tokens
 * are resolved by the device from the sampling ring while the host applies the step before. Skipped where no GPU
 * is usable (CI).
 */
class CudaOverlapScheduleTest extends OverlapScheduleTest {
    @Override
    protected Placement placement() {
        return Placement.CUDA_GRAPHS;
    }
}
