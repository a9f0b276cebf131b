package kiln.backend.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The NCCL binding where NCCL is missing; its collectives run in CudaKernelCheck's tp_ rows on a GPU. */
class NcclTest {
    @Test
    void aMissingLibraryIsReportedWithThePropertyThatNamesAnother() {
        CudaException e = assertThrows(CudaException.class, () -> Nccl.load("/nonexistent/libnccl.so.2"));
        assertTrue(e.getMessage().startsWith("/nonexistent/libnccl.so.2 cannot be loaded (NCCL is needed for tensor-parallel ranks"), e.getMessage());
        assertTrue(e.getMessage().contains("-Dkiln.cuda.ncclLibrary"), e.getMessage());
    }
}
