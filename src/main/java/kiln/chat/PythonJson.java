package kiln.chat;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * JSON exactly as Python's {@code json.dumps(value, ensure_ascii=False, indent=..., sort_keys=...)} writes it, which
 * is what HF's {@code tojson} filter produces: {@code ", "} and {@code ": "} separators (or {@code ","} and
 * newlines with an indent), non-ASCII kept as is, floats in Python's repr. Templates print tool schemas with it,
 * so a Jackson-style compact form would change the prompt.
 */
final class PythonJson {
    private PythonJson() {}

    static String dumps(Object value, int indent, boolean sortKeys) {
        StringBuilder out = new StringBuilder();
        write(out, value, indent, sortKeys, 0);
        return out.toString();
    }

    private static void write(StringBuilder out, Object v, int indent, boolean sortKeys, int depth) {
        v = ChatTemplate.plain(v);
        switch (v) {
            case null -> out.append("null");
            case Boolean b -> out.append(b ? "true" : "false");
            case Integer _, Long _, Short _, Byte _, BigInteger _ -> out.append(v);
            case Double d -> out.append(pythonFloat(d));
            case Float f -> out.append(pythonFloat(f.doubleValue()));
            case BigDecimal d -> out.append(pythonFloat(d.doubleValue()));
            case Map<?, ?> map -> {
                List<Map.Entry<String, Object>> entries = new ArrayList<>();
                for (Map.Entry<?, ?> e : map.entrySet()) entries.add(Map.entry(String.valueOf(e.getKey()), e.getValue() == null ? NULL : e.getValue()));
                if (sortKeys) entries.sort(Map.Entry.comparingByKey());
                if (entries.isEmpty()) {
                    out.append("{}");
                    return;
                }
                out.append('{');
                for (int i = 0; i < entries.size(); i++) {
                    separator(out, i, indent, depth + 1);
                    string(out, entries.get(i).getKey());
                    out.append(": ");
                    Object value = entries.get(i).getValue();
                    write(out, value == NULL ? null : value, indent, sortKeys, depth + 1);
                }
                close(out, indent, depth, '}');
            }
            case Iterable<?> list -> writeList(out, list.iterator(), indent, sortKeys, depth);
            case Object[] array -> writeList(out, List.of(array).iterator(), indent, sortKeys, depth);
            default -> string(out, v.toString());
        }
    }

    private static final Object NULL = new Object(); // Map.entry takes no null values

    private static void writeList(StringBuilder out, Iterator<?> it, int indent, boolean sortKeys, int depth) {
        if (!it.hasNext()) {
            out.append("[]");
            return;
        }
        out.append('[');
        for (int i = 0; it.hasNext(); i++) {
            separator(out, i, indent, depth + 1);
            write(out, it.next(), indent, sortKeys, depth + 1);
        }
        close(out, indent, depth, ']');
    }

    private static void separator(StringBuilder out, int index, int indent, int depth) {
        if (indent < 0) {
            if (index > 0) out.append(", ");
        } else {
            if (index > 0) out.append(',');
            out.append('\n').repeat(' ', indent * depth);
        }
    }

    private static void close(StringBuilder out, int indent, int depth, char bracket) {
        if (indent >= 0) out.append('\n').repeat(' ', indent * depth);
        out.append(bracket);
    }

    static void string(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
                    else out.append(c);
                }
            }
        }
        out.append('"');
    }

    /** Python's {@code repr(float)}: shortest round-trip digits, exponent form below 1e-4 and from 1e16 on. */
    static String pythonFloat(double d) {
        if (Double.isNaN(d)) return "NaN";
        if (Double.isInfinite(d)) return d > 0 ? "Infinity" : "-Infinity";
        if (d == 0) return 1 / d < 0 ? "-0.0" : "0.0";
        // Double.toString gives the shortest digits that round-trip (JDK 19+), like Python's repr.
        BigDecimal exact = new BigDecimal(Double.toString(d)).stripTrailingZeros();
        String digits = exact.unscaledValue().abs().toString();
        int exponent = digits.length() - 1 - exact.scale();
        String sign = d < 0 ? "-" : "";
        if (exponent >= -4 && exponent < 16) {
            String plain = exact.abs().toPlainString();
            return sign + (plain.contains(".") ? plain : plain + ".0");
        }
        String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + (Math.abs(exponent) < 10 ? "0" : "") + Math.abs(exponent);
    }
}
