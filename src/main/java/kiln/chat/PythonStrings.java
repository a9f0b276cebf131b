package kiln.chat;

import com.hubspot.jinjava.objects.SafeString;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Python's str methods for templates ({@code content.split('</think>')[-1]}, {@code role.startswith('tool')}).
 * Jinjava would otherwise call the Java method of the same name when there is one, with other semantics (Java's
 * split takes a regex and drops trailing empty strings), or fail when there is none ({@code startswith}). This
 * resolver sits before Jinjava's own and answers only calls on strings to the methods below.
 */
final class PythonStrings extends ELResolver {
    static final Set<String> METHODS = Set.of("startswith", "endswith", "strip", "lstrip", "rstrip", "split", "rsplit",
            "replace", "upper", "lower", "title", "capitalize", "find", "count", "join", "isspace", "isdigit", "isalpha");

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (!(base instanceof String || base instanceof SafeString) || !(method instanceof String name) || !METHODS.contains(name)) return null;
        String s = base.toString();
        Object[] a = params == null ? new Object[0] : params;
        Object result = switch (name) {
            case "startswith" -> affix(s, a, true);
            case "endswith" -> affix(s, a, false);
            case "strip" -> strip(s, arg(a, 0), true, true);
            case "lstrip" -> strip(s, arg(a, 0), true, false);
            case "rstrip" -> strip(s, arg(a, 0), false, true);
            case "split" -> split(s, arg(a, 0), maxSplit(a));
            case "rsplit" -> rsplit(s, arg(a, 0), maxSplit(a));
            case "replace" -> replace(s, str(a, 0, name), str(a, 1, name), a.length > 2 ? ((Number) a[2]).intValue() : -1);
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            case "title" -> title(s);
            case "capitalize" -> s.isEmpty() ? s : s.substring(0, s.offsetByCodePoints(0, 1)).toUpperCase(Locale.ROOT)
                    + s.substring(s.offsetByCodePoints(0, 1)).toLowerCase(Locale.ROOT);
            case "find" -> s.indexOf(str(a, 0, name));
            case "count" -> count(s, str(a, 0, name));
            case "join" -> join(s, a.length > 0 ? a[0] : List.of());
            case "isspace" -> !s.isEmpty() && s.codePoints().allMatch(PythonStrings::isSpace);
            case "isdigit" -> !s.isEmpty() && s.codePoints().allMatch(Character::isDigit);
            case "isalpha" -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetter);
            default -> throw new AssertionError(name);
        };
        context.setPropertyResolved(true);
        return result;
    }

    private static String arg(Object[] a, int i) {
        return a.length > i && a[i] != null ? a[i].toString() : null;
    }

    private static String str(Object[] a, int i, String method) {
        String s = arg(a, i);
        if (s == null) throw new IllegalArgumentException("str." + method + "() needs a string argument " + (i + 1));
        return s;
    }

    private static int maxSplit(Object[] a) {
        return a.length > 1 && a[1] instanceof Number n ? n.intValue() : -1;
    }

    /** startswith/endswith take one string or a tuple (a list here) of them. */
    private static boolean affix(String s, Object[] a, boolean start) {
        if (a.length == 0) throw new IllegalArgumentException("str." + (start ? "startswith" : "endswith") + "() needs an argument");
        if (a[0] instanceof Collection<?> options) {
            for (Object o : options) if (start ? s.startsWith(String.valueOf(o)) : s.endsWith(String.valueOf(o))) return true;
            return false;
        }
        String x = String.valueOf(a[0]);
        return start ? s.startsWith(x) : s.endsWith(x);
    }

    static boolean isSpace(int c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || (c >= 0x1C && c <= 0x1F) || c == 0x85;
    }

    private static String strip(String s, String chars, boolean left, boolean right) {
        int b = 0, e = s.length();
        if (left) while (b < e && strippable(s.charAt(b), chars)) b++;
        if (right) while (e > b && strippable(s.charAt(e - 1), chars)) e--;
        return s.substring(b, e);
    }

    private static boolean strippable(char c, String chars) {
        return chars == null ? isSpace(c) : chars.indexOf(c) >= 0;
    }

    /** Python's split: with no separator on whitespace runs (no empty strings), else on each occurrence. */
    static List<String> split(String s, String sep, int maxSplit) {
        List<String> out = new ArrayList<>();
        if (sep == null) {
            int i = 0, n = s.length();
            while (true) {
                while (i < n && isSpace(s.charAt(i))) i++;
                if (i == n) break;
                if (maxSplit >= 0 && out.size() == maxSplit) {
                    out.add(strip(s.substring(i), null, false, true));
                    break;
                }
                int j = i;
                while (j < n && !isSpace(s.charAt(j))) j++;
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        if (sep.isEmpty()) throw new IllegalArgumentException("str.split(): empty separator");
        int from = 0;
        while (maxSplit < 0 || out.size() < maxSplit) {
            int at = s.indexOf(sep, from);
            if (at < 0) break;
            out.add(s.substring(from, at));
            from = at + sep.length();
        }
        out.add(s.substring(from));
        return out;
    }

    private static List<String> rsplit(String s, String sep, int maxSplit) {
        if (sep == null || maxSplit < 0) return split(s, sep, maxSplit);
        if (sep.isEmpty()) throw new IllegalArgumentException("str.rsplit(): empty separator");
        List<String> out = new ArrayList<>();
        int end = s.length();
        while (out.size() < maxSplit) {
            int at = s.lastIndexOf(sep, end - sep.length());
            if (at < 0) break;
            out.addFirst(s.substring(at + sep.length(), end));
            end = at;
        }
        out.addFirst(s.substring(0, end));
        return out;
    }

    private static String replace(String s, String old, String with, int count) {
        if (count < 0) return s.replace(old, with);
        StringBuilder out = new StringBuilder();
        int from = 0;
        for (int done = 0; done < count; done++) {
            int at = old.isEmpty() ? (from <= s.length() ? from : -1) : s.indexOf(old, from);
            if (at < 0) break;
            out.append(s, from, at).append(with);
            if (old.isEmpty()) {
                if (at < s.length()) out.append(s.charAt(at));
                from = at + 1;
            } else {
                from = at + old.length();
            }
        }
        if (from < s.length()) out.append(s, from, s.length());
        return out.toString();
    }

    /** Python's title(): a cased letter after an uncased character goes to title case, the others to lower case. */
    private static String title(String s) {
        StringBuilder out = new StringBuilder(s.length());
        boolean previousCased = false;
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            boolean cased = Character.isUpperCase(c) || Character.isLowerCase(c) || Character.isTitleCase(c);
            out.appendCodePoint(cased ? (previousCased ? Character.toLowerCase(c) : Character.toTitleCase(c)) : c);
            previousCased = cased;
            i += Character.charCount(c);
        }
        return out.toString();
    }

    private static int count(String s, String sub) {
        if (sub.isEmpty()) return s.codePointCount(0, s.length()) + 1;
        int n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) n++;
        return n;
    }

    private static String join(String sep, Object items) {
        StringBuilder out = new StringBuilder();
        Iterable<?> it = items instanceof Iterable<?> i ? i : List.of(items);
        for (Iterator<?> i = it.iterator(); i.hasNext(); ) {
            out.append(i.next());
            if (i.hasNext()) out.append(sep);
        }
        return out.toString();
    }

    // Property access is left to Jinjava's resolvers.
    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {}

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return true;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}
