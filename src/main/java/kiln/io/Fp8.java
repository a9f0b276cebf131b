package kiln.io;

/**
 * FP8 E4M3 ("fn" variant: no infinities, NaN at 0x7F/0xFF), as in DeepSeek's checkpoints.
 * Moving the 7 exponent+mantissa bits up by 20 lands them in float32's field layout with the exponent bias
 * still off by 127 - 7; multiplying by 2^120 fixes that, for normal and subnormal values alike.
 */
public final class Fp8 {
    private Fp8() {}

    public static final float EXPONENT_FIX = 0x1p120f;
    public static final float MAX = 448f;

    public static float toFloat(byte b) {
        int bits = ((b & 0x7F) << 20) | ((b & 0x80) << 24);
        return Float.intBitsToFloat(bits) * EXPONENT_FIX;
    }

    /**
     * Round to the nearest e4m3 value, ties to the even code (as the GPU's cvt.rn.satfinite), saturating at +-448;
     * used for dummy weights and tests.
     */
    public static byte fromFloat(float f) {
        int sign = f < 0 || (f == 0 && 1 / f < 0) ? 0x80 : 0;
        float a = Math.min(Math.abs(f), MAX);
        int best = 0;
        float bestErr = Float.MAX_VALUE;
        // 127 candidates; callers quantize small tensors or cache per value range.
        for (int v = 0; v < 0x7F; v++) {
            float err = Math.abs(toFloat((byte) v) - a);
            if (err < bestErr || err == bestErr && (v & 1) == 0) {
                bestErr = err;
                best = v;
            }
        }
        return (byte) (sign | best);
    }
}
