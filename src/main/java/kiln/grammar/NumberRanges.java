package kiln.grammar;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;

import static kiln.grammar.Expr.alt;
import static kiln.grammar.Expr.lit;
import static kiln.grammar.Expr.opt;
import static kiln.grammar.Expr.plus;
import static kiln.grammar.Expr.seq;
import static kiln.grammar.Expr.star;

/**
 * JSON numbers within bounds, as exact regular languages over their digits: {@code minimum: 0.5} becomes "an
 * integer part above 0, or 0 and a fraction whose digits read at least 5", and so on digit by digit. Bounded
 * numbers are written without exponent and without {@code -0}; a two-sided range is the intersection of its two
 * sides. Values are compared as decimals (BigDecimal), so bounds such as 0.1 are exact.
 */
final class NumberRanges {
    private NumberRanges() {}

    private static final Expr DIGIT = Expr.Chars.of('0', '9');
    private static final Expr NONZERO = Expr.Chars.of('1', '9');
    /** A natural number without leading zeros. */
    static final Expr NAT = alt(lit("0"), seq(NONZERO, star(DIGIT)));
    private static final Expr FRACTION = opt(seq(lit("."), plus(DIGIT)));

    /** Integers n with lo <= n <= hi (either may be null: unbounded). */
    static Expr integers(BigInteger lo, BigInteger hi) {
        Expr low = lo == null ? null : intAtLeast(lo);
        Expr high = hi == null ? null : intAtMost(hi);
        return both(low, high, alt(lit("0"), seq(opt(lit("-")), NONZERO, star(DIGIT))));
    }

    /** Decimals x with lo <= x (lo < x when loStrict) and x <= hi (x < hi when hiStrict); null bounds are open. */
    static Expr decimals(BigDecimal lo, boolean loStrict, BigDecimal hi, boolean hiStrict) {
        Expr low = lo == null ? null : decAtLeast(lo, loStrict);
        Expr high = hi == null ? null : decAtMost(hi, hiStrict);
        return both(low, high, alt(seq(NAT, FRACTION), seq(lit("-"), positive())));
    }

    private static Expr both(Expr low, Expr high, Expr any) {
        if (low == null && high == null) return any;
        if (low == null) return high;
        if (high == null) return low;
        return new Expr.Intersect(low, high);
    }

    /** The least integer >= x (> x when strict). */
    static BigInteger ceil(BigDecimal x, boolean strict) {
        BigInteger c = x.setScale(0, RoundingMode.CEILING).toBigIntegerExact();
        return strict && x.compareTo(new BigDecimal(c)) == 0 ? c.add(BigInteger.ONE) : c;
    }

    /** The greatest integer <= x (< x when strict). */
    static BigInteger floor(BigDecimal x, boolean strict) {
        BigInteger f = x.setScale(0, RoundingMode.FLOOR).toBigIntegerExact();
        return strict && x.compareTo(new BigDecimal(f)) == 0 ? f.subtract(BigInteger.ONE) : f;
    }

    private static Expr intAtLeast(BigInteger c) {
        if (c.signum() >= 0) return natAtLeast(c.toString());
        // every natural, or minus a positive integer up to |c|
        return alt(NAT, seq(lit("-"), positiveAtMost(c.negate().toString())));
    }

    private static Expr intAtMost(BigInteger c) {
        if (c.signum() >= 0) return alt(seq(lit("-"), NONZERO, star(DIGIT)), natAtMost(c.toString()));
        return seq(lit("-"), natAtLeast(c.negate().toString()));
    }

    /** Naturals >= n (n without leading zeros). */
    static Expr natAtLeast(String n) {
        if (n.equals("0")) return NAT;
        int len = n.length();
        var options = new java.util.ArrayList<Expr>();
        options.add(seq(NONZERO, new Expr.Repeat(DIGIT, len, Expr.UNBOUNDED)));  // more digits
        for (int i = 0; i < len; i++) {
            int d = n.charAt(i) - '0';
            if (d < 9) options.add(seq(lit(n.substring(0, i)), Expr.Chars.of('0' + d + 1, '9'), new Expr.Repeat(DIGIT, len - i - 1, len - i - 1)));
        }
        options.add(lit(n));
        return new Expr.Alt(options);
    }

    /** Naturals <= n. */
    static Expr natAtMost(String n) {
        return alt(lit("0"), positiveAtMost(n));
    }

    /** Integers 1..n (nothing when n is 0). */
    private static Expr positiveAtMost(String n) {
        if (n.equals("0")) return Expr.NOTHING;
        int len = n.length();
        var options = new java.util.ArrayList<Expr>();
        if (len >= 2) options.add(seq(NONZERO, new Expr.Repeat(DIGIT, 0, len - 2)));  // fewer digits
        for (int i = 0; i < len; i++) {
            int d = n.charAt(i) - '0';
            int low = i == 0 ? 1 : 0;
            if (d - 1 >= low) options.add(seq(lit(n.substring(0, i)), Expr.Chars.of('0' + low, '0' + d - 1), new Expr.Repeat(DIGIT, len - i - 1, len - i - 1)));
        }
        options.add(lit(n));
        return new Expr.Alt(options);
    }

    private static Expr decAtLeast(BigDecimal c, boolean strict) {
        if (c.signum() >= 0) return nonNegAtLeast(c, strict);
        // x >= c with c < 0: any non-negative, or -y with 0 < y <= |c| (y < |c| when strict)
        return alt(seq(NAT, FRACTION), seq(lit("-"), new Expr.Intersect(positive(), nonNegAtMost(c.negate(), strict))));
    }

    private static Expr decAtMost(BigDecimal c, boolean strict) {
        if (c.signum() > 0 || (c.signum() == 0 && !strict)) return alt(seq(lit("-"), positive()), nonNegAtMost(c, strict));
        if (c.signum() == 0) return seq(lit("-"), positive());
        // x <= c with c < 0: -y with y >= |c| (> when strict); |c| > 0 excludes -0
        return seq(lit("-"), nonNegAtLeast(c.negate(), strict));
    }

    /** Non-negative decimals above zero. */
    private static Expr positive() {
        return nonNegAtLeast(BigDecimal.ZERO, true);
    }

    /** Non-negative decimals >= c (> c when strict), c >= 0. */
    private static Expr nonNegAtLeast(BigDecimal c, boolean strict) {
        String ip = integerPart(c), fd = fractionDigits(c);
        BigInteger i = new BigInteger(ip);
        Expr above = seq(natAtLeast(i.add(BigInteger.ONE).toString()), FRACTION);
        Expr same = seq(lit(ip), strict
                ? seq(lit("."), digitsAbove(fd))
                : (fd.isEmpty() ? FRACTION : seq(lit("."), digitsAtLeast(fd))));
        return alt(above, same);
    }

    /** Non-negative decimals <= c (< c when strict), c >= 0. */
    private static Expr nonNegAtMost(BigDecimal c, boolean strict) {
        String ip = integerPart(c), fd = fractionDigits(c);
        BigInteger i = new BigInteger(ip);
        Expr below = i.signum() == 0 ? Expr.NOTHING : seq(natAtMost(i.subtract(BigInteger.ONE).toString()), FRACTION);
        Expr same;
        if (fd.isEmpty()) same = strict ? Expr.NOTHING : seq(lit(ip), opt(seq(lit("."), plus(lit("0")))));
        else same = seq(lit(ip), opt(seq(lit("."), strict ? digitsBelow(fd) : digitsAtMost(fd))));
        return alt(below, same);
    }

    /** Fraction digit strings (read as 0.ddd, at least one digit) >= 0.f. */
    private static Expr digitsAtLeast(String f) {
        if (f.isEmpty()) return star(DIGIT);
        int d = f.charAt(0) - '0';
        Expr higher = d < 9 ? seq(Expr.Chars.of('0' + d + 1, '9'), star(DIGIT)) : Expr.NOTHING;
        return alt(higher, seq(lit(f.substring(0, 1)), digitsAtLeast(f.substring(1))));
    }

    /** Digit strings read as 0.ddd > 0.f (f empty: above zero). */
    private static Expr digitsAbove(String f) {
        if (f.isEmpty()) return seq(star(DIGIT), NONZERO, star(DIGIT));
        int d = f.charAt(0) - '0';
        Expr higher = d < 9 ? seq(Expr.Chars.of('0' + d + 1, '9'), star(DIGIT)) : Expr.NOTHING;
        return alt(higher, seq(lit(f.substring(0, 1)), digitsAbove(f.substring(1))));
    }

    /** Digit strings read as 0.ddd <= 0.f. */
    private static Expr digitsAtMost(String f) {
        if (f.isEmpty()) return star(lit("0"));
        int d = f.charAt(0) - '0';
        Expr lower = d > 0 ? seq(Expr.Chars.of('0', '0' + d - 1), star(DIGIT)) : Expr.NOTHING;
        return alt(lower, seq(lit(f.substring(0, 1)), digitsAtMost(f.substring(1))));
    }

    /** Digit strings read as 0.ddd < 0.f. */
    private static Expr digitsBelow(String f) {
        if (f.isEmpty()) return Expr.NOTHING;
        int d = f.charAt(0) - '0';
        Expr lower = d > 0 ? seq(Expr.Chars.of('0', '0' + d - 1), star(DIGIT)) : Expr.NOTHING;
        return alt(lower, seq(lit(f.substring(0, 1)), digitsBelow(f.substring(1))));
    }

    private static String integerPart(BigDecimal c) {
        return c.setScale(0, RoundingMode.DOWN).toBigIntegerExact().toString();
    }

    /** The digits after the point, without trailing zeros ("" for an integer). */
    private static String fractionDigits(BigDecimal c) {
        BigDecimal frac = c.subtract(c.setScale(0, RoundingMode.DOWN)).stripTrailingZeros();
        if (frac.signum() == 0) return "";
        String s = frac.toPlainString();  // "0.0125"
        return s.substring(s.indexOf('.') + 1);
    }
}
