package kiln.io;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** e4m3 encoding against the definition: the nearest of the 127 finite magnitudes, ties to the even code. */
class Fp8Test {
    private static byte nearest(float f) {
        int sign = f < 0 || (f == 0 && 1 / f < 0) ? 0x80 : 0;
        float a = Math.min(Math.abs(f), Fp8.MAX);
        int best = 0;
        float bestErr = Float.MAX_VALUE;
        for (int v = 0; v < 0x7F; v++) {
            float err = Math.abs(Fp8.toFloat((byte) v) - a);
            if (err < bestErr || err == bestErr && (v & 1) == 0) {
                bestErr = err;
                best = v;
            }
        }
        return (byte) (sign | best);
    }

    @Test
    void everyCodeRoundTripsAndEveryMidpointRoundsToTheEvenCode() {
        for (int c = 0; c < 0x7F; c++) {
            for (int sign : new int[]{0, 0x80}) {
                float v = Fp8.toFloat((byte) (sign | c));
                assertEquals((byte) (sign | c), Fp8.fromFloat(v), "code " + c);
            }
            if (c + 1 < 0x7F) {
                float mid = (Fp8.toFloat((byte) c) + Fp8.toFloat((byte) (c + 1))) / 2;
                assertEquals(nearest(mid), Fp8.fromFloat(mid), "midpoint above code " + c);
                assertEquals((c & 1) == 0 ? c : c + 1, Fp8.fromFloat(mid), "midpoint above code " + c);
            }
        }
    }

    @Test
    void randomValuesOfEveryScaleRoundToTheNearestCode() {
        SplittableRandom r = new SplittableRandom(7);
        for (int i = 0; i < 200_000; i++) {
            float v = (float) (r.nextGaussian() * Math.scalb(1.0, r.nextInt(-14, 12)));
            assertEquals(nearest(v), Fp8.fromFloat(v), "value " + v);
        }
        assertEquals((byte) 0x7E, Fp8.fromFloat(1e6f));
        assertEquals((byte) 0xFE, Fp8.fromFloat(-500f));
        assertEquals((byte) 0x80, Fp8.fromFloat(-0f));
        assertEquals((byte) 0, Fp8.fromFloat(1e-30f));
    }
}
