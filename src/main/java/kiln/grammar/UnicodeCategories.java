package kiln.grammar;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * Unicode general categories ({@code \p{Lu}}, {@code \p{L}}, {@code \p{IsNd}}) as code point ranges, from the JDK's
 * character database; each is built once, on first use, by one pass over all code points.
 */
final class UnicodeCategories {
    private UnicodeCategories() {}

    private static final Map<String, Expr.Chars> CACHE = new ConcurrentHashMap<>();

    /** Two-letter codes in the order of {@link Character#getType} values 0..30. */
    private static final String[] CODES = {
        "Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Me", "Mc", "Nd", "Nl", "No", "Zs", "Zl", "Zp", "Cc", "Cf", null, "Co", "Cs",
        "Pd", "Ps", "Pe", "Pc", "Po", "Sm", "Sc", "Sk", "So", "Pi", "Pf",
    };

    static Expr.Chars of(String name, Function<String, GrammarException> error) {
        String code = name.startsWith("Is") ? name.substring(2) : name;
        if (code.startsWith("General_Category=")) code = code.substring("General_Category=".length());
        boolean known = false;
        for (String c : CODES) known |= c != null && (c.equals(code) || (code.length() == 1 && c.charAt(0) == code.charAt(0)));
        if (!known) throw error.apply("unknown Unicode category \\p{" + name + "} (general categories such as L, Lu, Nd, P are supported)");
        return CACHE.computeIfAbsent(code, UnicodeCategories::build);
    }

    private static Expr.Chars build(String code) {
        IntList r = new IntList();
        int start = -1;
        for (int cp = 0; cp <= Expr.Chars.MAX + 1; cp++) {
            boolean in = cp <= Expr.Chars.MAX && matches(Character.getType(cp), code);
            if (in && start < 0) start = cp;
            if (!in && start >= 0) {
                r.add(start, cp - 1);
                start = -1;
            }
        }
        return new Expr.Chars(r.toArray());
    }

    private static boolean matches(int type, String code) {
        String c = type < CODES.length ? CODES[type] : null;
        return c != null && (code.length() == 1 ? c.charAt(0) == code.charAt(0) : c.equals(code));
    }
}
