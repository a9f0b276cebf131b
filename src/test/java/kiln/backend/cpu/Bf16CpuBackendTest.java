package kiln.backend.cpu;

import kiln.io.Fp8;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The bf16 simulation's two roundings against independent references. */
class Bf16CpuBackendTest {
    @Test
    void e4m3RoundingMatchesTheNearestCode() {
        Random r = new Random(3);
        for (int i = 0; i < 20000; i++) {
            float v = (float) (r.nextGaussian() * Math.pow(2, r.nextInt(16) - 9));
            float want = Fp8.toFloat(Fp8.fromFloat(v)), got = Bf16CpuBackend.e4m3(v);
            // ties may go either way in fromFloat's scan; the simulation rounds them to even like the hardware
            float step = Math.scalb(1f, Math.max(Math.getExponent(Math.min(Math.abs(v), 448f)), -6) - 3);
            if (want != got) assertEquals(0.5f * step, Math.abs(Math.abs(v) - Math.abs(want)), 1e-3f * step, "value " + v);
        }
        assertEquals(448f, Bf16CpuBackend.e4m3(1e6f));
        assertEquals(-448f, Bf16CpuBackend.e4m3(-500f));
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals(1f, Bf16CpuBackend.bf16(1f + 0x1p-9f));            // tie: to even
        assertEquals(1f + 0x1p-7f, Bf16CpuBackend.bf16(1f + 0x1p-7f + 0x1p-9f)); // tie: to even (up)
        assertEquals(1f + 0x1p-7f, Bf16CpuBackend.bf16(1f + 0x1p-8f + 0x1p-12f));
        assertEquals(Float.floatToIntBits(Float.NaN), Float.floatToIntBits(Bf16CpuBackend.bf16(Float.NaN)));
    }
}
