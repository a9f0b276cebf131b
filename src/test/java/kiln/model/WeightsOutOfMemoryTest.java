package kiln.model;

import kiln.backend.DeviceMemoryException;
import kiln.backend.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The message a refused device allocation becomes during a load (the CLI prints it as one line). */
class WeightsOutOfMemoryTest {
    @Test
    void saysHowFarTheLoadGotOnWhichRankAndWhatToDo() {
        Weights w = new Weights(new DummySource(null), new CpuBackend(), DefaultModel.config(null), new Shard(0, 8), new LoadProgress(1), 0);
        w.dense("model.layers.0.mlp.gate_proj.weight", 1000, 1000);  // 2 MB of bf16 loaded before the failure
        w.layerLoaded(49, 61);
        String m = w.outOfMemory(new DeviceMemoryException("cuMemAlloc_v2(1835008 bytes) failed", 1835008, 0, 85_022_736_384L));
        assertTrue(m.contains("(rank 0 of --tp 8)"), m);
        assertTrue(m.contains("after 0.00 GB of weights, 49 of 61 layers loaded; 0.00 GiB free of 79.18 GiB"), m);
        assertTrue(m.endsWith("Use more ranks (--tp) or a device with more memory"), m);
        assertEquals(m, DeviceMemoryException.in(new RuntimeException("wrapped", new DeviceMemoryException(m, 1, 0, 0))).getMessage());
    }
}
