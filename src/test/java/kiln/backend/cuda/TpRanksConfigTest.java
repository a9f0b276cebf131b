package kiln.backend.cuda;

import kiln.KilnProperty;
import kiln.config.ConfigException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** kiln.cuda.tpRanks: what it accepts (NCCL ranks by default), and none refusing --tp > 1, naming it. */
class TpRanksConfigTest {
    private final String key = KilnProperty.CUDA_TP_RANKS.key();

    @AfterEach
    void clear() {
        System.clearProperty(key);
    }

    @Test
    void ncclRanksByDefaultAndNoneRefusesNamingTheProperty() {
        TpRanksConfig c = TpRanksConfig.fromProperties();
        assertEquals(TpRanksConfig.Kind.NCCL, c.kind());
        assertEquals("libnccl.so.2", c.ncclLibrary());
        System.setProperty(key, "none");
        TpRanksConfig none = TpRanksConfig.fromProperties();
        // refused before any backend or GPU is touched
        ConfigException e = assertThrows(ConfigException.class, () -> CudaRankGroup.create(null, 2, none));
        assertTrue(e.getMessage().startsWith("--tp 2 on the CUDA backend is off (-Dkiln.cuda.tpRanks=none)"), e.getMessage());
        assertTrue(e.getMessage().contains("=virtual"), e.getMessage());
    }

    @Test
    void theKindsAreReadAndAnythingElseIsAnError() {
        System.setProperty(key, "Virtual");
        assertEquals(TpRanksConfig.Kind.VIRTUAL, TpRanksConfig.fromProperties().kind());
        System.setProperty(key, "nccl");
        assertEquals(TpRanksConfig.Kind.NCCL, TpRanksConfig.fromProperties().kind());
        System.setProperty(key, "mpi");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, TpRanksConfig::fromProperties);
        assertEquals("kiln.cuda.tpRanks must be none, virtual or nccl, not mpi", e.getMessage());
    }
}
