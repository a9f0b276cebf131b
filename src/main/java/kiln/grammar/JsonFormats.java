package kiln.grammar;

import java.util.Map;
import java.util.Set;

/**
 * The string formats of JSON Schema that a grammar enforces, each as a regular expression over the string's
 * value. Dates know month lengths and leap years (2024-02-29 yes, 2023-02-29 and 2023-04-31 no) so that every
 * generated value also passes a validator that parses it. Formats not listed are annotations only, as JSON Schema
 * 2020-12 treats every format by default: such strings are constrained by their other keywords alone.
 */
final class JsonFormats {
    private JsonFormats() {}

    private static final String DAY_31 = "(?:0[1-9]|[12][0-9]|3[01])";
    private static final String DAY_30 = "(?:0[1-9]|[12][0-9]|30)";
    private static final String DAY_28 = "(?:0[1-9]|1[0-9]|2[0-8])";
    /** Years divisible by 4 but not 100, or by 400. */
    private static final String LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)";
    private static final String DATE = "(?:[0-9]{4}-(?:(?:0[13578]|1[02])-" + DAY_31 + "|(?:0[469]|11)-" + DAY_30 + "|02-" + DAY_28 + ")"
            + "|" + LEAP_YEAR + "-02-29)";
    private static final String TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])";
    private static final String OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
    private static final String H16 = "[0-9a-fA-F]{1,4}";
    /** A DNS label of at most 63 characters, hyphens only between letters or digits (so never "--", which IDNA reserves). */
    private static final String LABEL = "[A-Za-z0-9](?:-?[A-Za-z0-9]){0,31}";
    /** Validators check an email's top-level domain against the registry; these exist. */
    private static final String TLD = "(?:com|org|net|edu|gov|io|dev|ai|app|co|info|mil|int|eu|me|tv|uk|de|fr|jp|cn|in|us|ca|au|br|nl|es|it|ch|se|no)";

    private static final Map<String, String> PATTERNS = Map.of(
            "date", DATE,
            "time", TIME,
            "date-time", DATE + "T" + TIME,
            "uuid", "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
            "ipv4", "(?:" + OCTET + "\\.){3}" + OCTET,
            "ipv6", "(?:(?:" + H16 + ":){7}" + H16
                    + "|(?:" + H16 + ":){1,7}:"
                    + "|(?:" + H16 + ":){1,6}:" + H16
                    + "|(?:" + H16 + ":){1,5}(?::" + H16 + "){1,2}"
                    + "|(?:" + H16 + ":){1,4}(?::" + H16 + "){1,3}"
                    + "|(?:" + H16 + ":){1,3}(?::" + H16 + "){1,4}"
                    + "|(?:" + H16 + ":){1,2}(?::" + H16 + "){1,5}"
                    + "|" + H16 + ":(?::" + H16 + "){1,6}"
                    + "|:(?:(?::" + H16 + "){1,7}|:))",
            "hostname", LABEL + "(?:\\." + LABEL + "){0,3}",
            "uri", "[A-Za-z][A-Za-z0-9+.-]*:(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})+");

    /** The formats enforced; others are accepted and ignored. */
    static final Set<String> ENFORCED = java.util.stream.Stream.concat(PATTERNS.keySet().stream(), java.util.stream.Stream.of("email"))
            .collect(java.util.stream.Collectors.toUnmodifiableSet());

    /** An email's local part: dot-separated atoms, at most 64 characters (RFC 5321). */
    private static final String LOCAL = "[A-Za-z0-9_+-]+(?:\\.[A-Za-z0-9_+-]+)*";

    /** The value's language for {@code format}, or null when the format is not enforced. */
    static Expr of(String format) {
        if (format.equals("email")) {
            Expr local = new Expr.Intersect(RegexParser.parse(LOCAL, "format email"), RegexParser.parse(".{1,64}", "format email"));
            return Expr.seq(local, RegexParser.parse("@(?:" + LABEL + "\\.){1,3}" + TLD, "format email"));
        }
        String regex = PATTERNS.get(format);
        return regex == null ? null : RegexParser.parse(regex, "format " + format);
    }
}
