package kiln.model;

import kiln.backend.Backend;

/** The GPU backend of the CUDA fixture tests, for tests in other packages. */
public final class CudaFixtureAccess {
    private CudaFixtureAccess() {}

    /** A float32 CUDA backend, or a skipped test (JUnit assumption) where no GPU is usable. */
    public static Backend cudaFloat32() {
        return CudaFixtureTest.cudaFloat32();
    }
}
