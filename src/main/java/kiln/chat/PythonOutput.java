package kiln.chat;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.InterpreterFactory;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.objects.SafeString;

import java.util.Iterator;
import java.util.Map;

/**
 * Prints values as Python's {@code str()} does, as Jinja2 does in {@code {{ ... }}}: {@code True}/{@code False},
 * {@code [1, 'a', None]}, {@code {'k': 'v'}}, floats in Python's repr. Jinjava would print Java's {@code true} and
 * {@code [1, a, null]}. One difference stays: Java has one null for Python's None and Jinja's Undefined, and it
 * prints as "" (Undefined's way), since templates print undefined variables far more often than None values.
 */
final class PythonOutput implements InterpreterFactory {
    @Override
    public JinjavaInterpreter newInstance(JinjavaInterpreter orig) {
        return new Interpreter(orig);
    }

    @Override
    public JinjavaInterpreter newInstance(Jinjava application, Context context, JinjavaConfig renderConfig) {
        return new Interpreter(application, context, renderConfig);
    }

    private static final class Interpreter extends JinjavaInterpreter {
        Interpreter(JinjavaInterpreter orig) {
            super(orig);
        }

        Interpreter(Jinjava application, Context context, JinjavaConfig config) {
            super(application, context, config);
        }

        @Override
        public String getAsString(Object value) {
            return str(value);
        }
    }

    static String str(Object v) {
        v = ChatTemplate.plain(v);
        return switch (v) {
            case null -> "";
            case String s -> s;
            case SafeString s -> s.toString();
            default -> repr(v);
        };
    }

    static String repr(Object v) {
        StringBuilder out = new StringBuilder();
        repr(out, v);
        return out.toString();
    }

    private static void repr(StringBuilder out, Object v) {
        v = ChatTemplate.plain(v);
        switch (v) {
            case null -> out.append("None");
            case Boolean b -> out.append(b ? "True" : "False");
            case Double d -> out.append(PythonJson.pythonFloat(d));
            case Float f -> out.append(PythonJson.pythonFloat(f.doubleValue()));
            case CharSequence s -> quote(out, s.toString());
            case SafeString s -> quote(out, s.toString());
            case Map<?, ?> map -> {
                out.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : map.entrySet()) {
                    if (!first) out.append(", ");
                    first = false;
                    repr(out, e.getKey());
                    out.append(": ");
                    repr(out, e.getValue());
                }
                out.append('}');
            }
            case Iterable<?> list -> {
                out.append('[');
                for (Iterator<?> it = list.iterator(); it.hasNext(); ) {
                    repr(out, it.next());
                    if (it.hasNext()) out.append(", ");
                }
                out.append(']');
            }
            case Object[] array -> repr(out, java.util.Arrays.asList(array));
            default -> out.append(v);
        }
    }

    /** Python's string repr: single quotes unless the text has a ' and no ". */
    private static void quote(StringBuilder out, String s) {
        char q = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        out.append(q);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == q || c == '\\') out.append('\\').append(c);
            else if (c == '\n') out.append("\\n");
            else if (c == '\r') out.append("\\r");
            else if (c == '\t') out.append("\\t");
            else if (c < 0x20 || c == 0x7F) out.append(String.format("\\x%02x", (int) c));
            else out.append(c);
        }
        out.append(q);
    }
}
