package kiln.backend.cuda;

import kiln.backend.Backends;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@link CudaKernelCheck} as a test: every GPU op against the CPU backend. Skipped where no GPU is usable. */
class CudaKernelCheckTest {
    @Test
    void everyKernelMatchesTheCpuBackend() {
        String why = Backends.cudaUnavailableReason();
        assumeTrue(why == null, () -> "CUDA backend unavailable: " + why);
        CudaKernelCheck check = new CudaKernelCheck(List.of());
        check.runAll();
        check.print(System.out);
        assertEquals(0, check.failures(), "failed GPU kernel checks (see the table above)");
    }
}
