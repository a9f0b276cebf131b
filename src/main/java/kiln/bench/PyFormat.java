package kiln.bench;

import java.math.BigDecimal;
import java.math.RoundingMode;

/** Python's number formatting, so that printed figures match sglang.bench_serving character for character. */
public final class PyFormat {
    private PyFormat() {}

    /** {@code format(v, ".2f")}: the exact binary value rounded half-even, as CPython does. */
    public static String fixed2(double v) {
        if (Double.isNaN(v)) return "nan";
        if (Double.isInfinite(v)) return v > 0 ? "inf" : "-inf";
        return new BigDecimal(v).setScale(2, RoundingMode.HALF_EVEN).toPlainString();
    }

    /** {@code repr(v)} of a Python float: shortest round-trip digits, scientific below 1e-4 and from 1e16. */
    public static String repr(double v) {
        if (Double.isNaN(v)) return "nan";
        if (Double.isInfinite(v)) return v > 0 ? "inf" : "-inf";
        if (v == 0) return (1 / v < 0) ? "-0.0" : "0.0";
        BigDecimal d = new BigDecimal(Double.toString(v)).stripTrailingZeros();
        int exponent = d.precision() - d.scale() - 1;
        if (exponent >= -4 && exponent < 16) {
            String plain = d.toPlainString();
            return plain.contains(".") ? plain : plain + ".0";
        }
        String digits = d.unscaledValue().abs().toString();
        String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        String exp = String.format("%02d", Math.abs(exponent));
        return (v < 0 ? "-" : "") + mantissa + "e" + (exponent < 0 ? "-" : "+") + exp;
    }

    /** {@code "{:<w}".format(s)}: left-aligned, padded with spaces, never cut. */
    public static String left(String s, int width) {
        return s.length() >= width ? s : s + " ".repeat(width - s.length());
    }

    /** {@code "{s:{c}^{n}}".format(...)}: centred, the odd fill character going to the right. */
    public static String center(String s, int width, char fill) {
        int pad = Math.max(0, width - s.length());
        return String.valueOf(fill).repeat(pad / 2) + s + String.valueOf(fill).repeat(pad - pad / 2);
    }
}
