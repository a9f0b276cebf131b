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
     * Round to the nearest e4m3 value, ties to the even code (as the GPU's cvt.rn.satfinite), saturating at +-448:
     * the value's step at its exponent (2^(e-3); below 2^-6 the subnormals' fixed 2^-9) divides it, Math.rint rounds
     * half to even, and the code is the exponent field and the mantissa (a carry into the next exponent is the next
     * code). NaN becomes the NaN code.
     */
    public static byte fromFloat(float f) {
        int sign = f < 0 || (f == 0 && 1 / f < 0) ? 0x80 : 0;
        if (Float.isNaN(f)) return (byte) 0x7F;
        float a = Math.min(Math.abs(f), MAX);
        int e = Math.max(Math.getExponent(a), -6);  // a == 0: getExponent gives -127, the subnormal step applies
        int steps = (int) Math.rint(Math.scalb(a, 3 - e));  // 8..16 for normals, 0..8 for subnormals
        int code = e == -6 && steps < 8 ? steps : ((e + 7) << 3) + steps - 8;
        return (byte) (sign | Math.min(code, 0x7E));
    }
}
