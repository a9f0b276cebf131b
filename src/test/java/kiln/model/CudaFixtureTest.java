package kiln.model;

import kiln.backend.Backend;
import kiln.backend.Backends;
import kiln.backend.cuda.CudaBackend;
import kiln.backend.cuda.CudaOptions;
import kiln.backend.cuda.Precision;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The fixture checks of {@link FixtureTest} (same tolerances, same invariances) on the CUDA backend in float32
 * activations, eager. Skipped where no GPU is usable (CI).
 */
class CudaFixtureTest extends FixtureTest {
    static Backend cudaFloat32() {
        String why = Backends.cudaUnavailableReason();
        assumeTrue(why == null, () -> "CUDA backend unavailable: " + why);
        return new CudaBackend(CudaOptions.defaults().withPrecision(Precision.FLOAT32).withActivationBytes(1L << 30));
    }

    @Override
    protected Backend backend() {
        return cudaFloat32();
    }
}
