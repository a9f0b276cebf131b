package kiln.engine;

import kiln.backend.DeviceMemoryException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** What a KV pool the device cannot hold becomes: one line naming the pool and the flag to change. */
class KvOutOfMemoryTest {
    private static final DeviceMemoryException OOM = new DeviceMemoryException("cuMemAlloc_v2 failed", 1L << 34, 1L << 30, 85_022_736_384L);

    @Test
    void aDerivedPoolNamesTheMemoryFraction() {
        assertEquals("the KV cache of 1000000 tokens (70.27 GB) does not fit on the device (1.00 GiB free of 79.18 GiB) after the weights; "
                + "lower --mem-fraction-static or set --max-total-tokens", Engine.kvOutOfMemory(1_000_000, 70_272, false, OOM));
    }

    @Test
    void aPoolSetByFlagNamesThatFlag() {
        assertEquals("the KV cache of 1000000 tokens (70.27 GB) does not fit on the device (1.00 GiB free of 79.18 GiB) after the weights; "
                + "lower --max-total-tokens", Engine.kvOutOfMemory(1_000_000, 70_272, true, OOM));
    }
}
