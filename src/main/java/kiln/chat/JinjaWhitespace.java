package kiln.chat;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Applies Jinja2's whitespace rules to a template's source, so that Jinjava, with all its own whitespace handling
 * off, renders Jinja2's output. Jinjava differs from Jinja2 here: its lstrip_blocks strips the blanks before every
 * tag, also in mid-line ({@code "x {% if a %}, {% endif %}"} loses two spaces), and it ignores {@code -}}}. The
 * rules, as Jinja2's lexer has them (with transformers' {@code trim_blocks} and {@code lstrip_blocks} on):
 * <ul>
 * <li>line breaks become {@code \n}; one trailing newline is dropped ({@code keep_trailing_newline=False});</li>
 * <li>{@code {%-}, {@code {{-}, {@code {#-} strip all whitespace before; {@code -%}}, {@code -}}}, {@code -#}} all
 * whitespace after;</li>
 * <li>lstrip_blocks: blanks between a line start and {@code {%} or {@code {#} go, unless written {@code {%+};</li>
 * <li>trim_blocks: one newline right after {@code %}} or {@code #}} goes, unless written {@code +%}};</li>
 * <li>comments are removed; {@code {% raw %}} content is left alone.</li>
 * </ul>
 * The output has no whitespace-control signs left.
 */
final class JinjaWhitespace {
    private JinjaWhitespace() {}

    private static final Pattern END_RAW = Pattern.compile("\\{%([-+]?)\\s*endraw\\s*([-+]?)%}");

    static String apply(String template) {
        return new JinjaWhitespace.Pass(template).run();
    }

    private static final class Pass {
        private final String src;
        private final StringBuilder out;
        private int i;
        private int textStart;
        /** Jinja2's lexer state: did the last token end a line? True at the start. */
        private boolean lineStarting = true;

        Pass(String template) {
            String s = template.replace("\r\n", "\n").replace('\r', '\n');
            src = s.endsWith("\n") ? s.substring(0, s.length() - 1) : s;
            out = new StringBuilder(src.length());
        }

        String run() {
            int n = src.length();
            while (i < n) {
                int j = nextConstruct(i);
                if (j < 0) {
                    out.append(src, i, n);
                    break;
                }
                out.append(src, i, j);
                char kind = src.charAt(j + 1);
                char open = j + 2 < n ? src.charAt(j + 2) : 0;
                int end = kind == '#' ? commentEnd(j + 2) : constructEnd(j + 2, kind == '{' ? '}' : '%');
                char close = src.charAt(end - 3);
                beforeConstruct(kind, open);
                if (kind != '#') {
                    int bodyStart = j + 2 + (open == '-' || (open == '+' && kind == '%') ? 1 : 0);
                    int bodyEnd = end - 2 - (close == '-' || (close == '+' && kind == '%') ? 1 : 0);
                    out.append(kind == '{' ? "{{" : "{%").append(src, bodyStart, Math.max(bodyStart, bodyEnd)).append(kind == '{' ? "}}" : "%}");
                }
                i = end;
                afterConstruct(kind, close);
                if (kind == '%' && src.substring(j + 2, end - 2).replace("-", "").replace("+", "").strip().equals("raw")) raw();
            }
            return out.toString();
        }

        private void beforeConstruct(char kind, char open) {
            if (open == '-') rstrip();
            else if (kind != '{' && open != '+') lstrip();
        }

        private void afterConstruct(char kind, char close) {
            lineStarting = false;
            if (close == '-') {
                while (i < src.length() && Character.isWhitespace(src.charAt(i))) lineStarting = src.charAt(i++) == '\n';
            } else if (kind != '{' && close != '+' && i < src.length() && src.charAt(i) == '\n') {
                i++;
                lineStarting = true;
            }
            textStart = out.length();
        }

        /** After {@code {% raw %}}: the content stays text up to {@code {% endraw %}}, whose signs still count. */
        private void raw() {
            Matcher m = END_RAW.matcher(src);
            if (!m.find(i)) throw new ChatTemplateException("chat template: {% raw %} without {% endraw %}");
            out.append(src, i, m.start());
            beforeConstruct('%', m.group(1).isEmpty() ? 0 : m.group(1).charAt(0));
            out.append("{% endraw %}");
            i = m.end();
            afterConstruct('%', m.group(2).isEmpty() ? 0 : m.group(2).charAt(0));
        }

        private int nextConstruct(int from) {
            for (int j = src.indexOf('{', from); j >= 0 && j + 1 < src.length(); j = src.indexOf('{', j + 1)) {
                char c = src.charAt(j + 1);
                if (c == '%' || c == '{' || c == '#') return j;
            }
            return -1;
        }

        /** Index after the {@code %}} or {@code }}} closing a construct, skipping string literals and brackets. */
        private int constructEnd(int from, char closer) {
            int depth = 0;
            for (int k = from; k < src.length(); k++) {
                char c = src.charAt(k);
                if (c == '\'' || c == '"') {
                    for (k++; k < src.length() && src.charAt(k) != c; k++) if (src.charAt(k) == '\\') k++;
                } else if (depth == 0 && c == closer && k + 1 < src.length() && src.charAt(k + 1) == '}') {
                    return k + 2;
                } else if (c == '(' || c == '[' || c == '{') {
                    depth++;
                } else if ((c == ')' || c == ']' || c == '}') && depth > 0) {
                    depth--;
                }
            }
            throw new ChatTemplateException("chat template: " + (closer == '%' ? "{% ... %}" : "{{ ... }}") + " starting at line "
                    + line(from) + " is never closed");
        }

        private int commentEnd(int from) {
            int end = src.indexOf("#}", from);
            if (end < 0) throw new ChatTemplateException("chat template: comment starting at line " + line(from) + " is never closed");
            return end + 2;
        }

        private int line(int at) {
            return (int) src.substring(0, at).chars().filter(c -> c == '\n').count() + 1;
        }

        /** lstrip_blocks: drop the blanks between the line start and the tag, if that is all the line holds so far. */
        private void lstrip() {
            int lineStart = out.lastIndexOf("\n") + 1;
            if (lineStart < textStart) { // no newline in this text run
                if (!lineStarting) return;
                lineStart = textStart;
            }
            for (int k = lineStart; k < out.length(); k++) if (!Character.isWhitespace(out.charAt(k))) return;
            out.setLength(lineStart);
        }

        private void rstrip() {
            int end = out.length();
            while (end > textStart && Character.isWhitespace(out.charAt(end - 1))) end--;
            out.setLength(end);
        }
    }
}
