package kiln.backend.cuda;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The extern "C" entry points a .cuh file declares, read from the source as the C preprocessor would see them:
 * lines spliced, comments dropped, function-like macros expanded (parameters substituted, ## pasted, nested
 * invocations expanded). Each entry point's parameters are reduced to what a launch passes: p (a pointer), l (a C
 * long), i (an int or unsigned), f (a float). Enough of the preprocessor for Kiln's own sources, not a general one.
 */
final class CudaEntryPoints {
    private CudaEntryPoints() {}

    private record Macro(List<String> params, String body) {}

    private static final Pattern DEFINE = Pattern.compile("(?m)^\\s*#define\\s+(\\w+)\\(([^)]*)\\)\\s*(.*)$");
    private static final Pattern ENTRY = Pattern.compile("extern\\s+\"C\"\\s+__global__\\s+void\\s+(?:__launch_bounds__\\s*\\(([^()]|\\([^()]*\\))*\\)\\s*)?(\\w+)\\s*\\(");

    /** Entry point name -> parameter types ("ppil..."), in declaration order, of one source file. */
    static Map<String, String> read(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        text = text.replaceAll("\\\\\\r?\\n", " ");
        text = text.replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\\n]*", "");
        Map<String, Macro> macros = new LinkedHashMap<>();
        Matcher d = DEFINE.matcher(text);
        StringBuilder rest = new StringBuilder();
        int at = 0;
        while (d.find()) {
            List<String> params = new ArrayList<>();
            for (String p : d.group(2).split(",")) if (!p.isBlank()) params.add(p.strip());
            macros.put(d.group(1), new Macro(params, d.group(3)));
            rest.append(text, at, d.start());
            at = d.end();
        }
        rest.append(text.substring(at));
        String expanded = expand(rest.toString(), macros, 0);
        Map<String, String> entries = new LinkedHashMap<>();
        Matcher e = ENTRY.matcher(expanded);
        while (e.find()) {
            int open = e.end(), close = expanded.indexOf(')', open);
            String previous = entries.put(e.group(2), types(e.group(2), expanded.substring(open, close)));
            if (previous != null) throw new IllegalStateException(file + ": entry point " + e.group(2) + " declared twice");
        }
        return entries;
    }

    /** Expands every invocation of a function-like macro in {@code text}, recursively. */
    private static String expand(String text, Map<String, Macro> macros, int depth) {
        if (depth > 8) throw new IllegalStateException("macro expansion nested too deeply");
        StringBuilder out = new StringBuilder();
        Matcher m = Pattern.compile("\\b(\\w+)\\s*\\(").matcher(text);
        int at = 0;
        while (m.find()) {
            Macro macro = macros.get(m.group(1));
            if (macro == null || m.start() < at) continue;
            int close = matching(text, m.end() - 1);
            List<String> args = new ArrayList<>();
            for (String a : text.substring(m.end(), close).split(",")) if (!a.isBlank()) args.add(a.strip());
            if (args.size() != macro.params().size()) {
                throw new IllegalStateException(m.group(1) + " takes " + macro.params() + ", given " + args);
            }
            String body = macro.body();
            for (int i = 0; i < args.size(); i++) body = body.replaceAll("\\b" + Pattern.quote(macro.params().get(i)) + "\\b", Matcher.quoteReplacement(args.get(i)));
            body = body.replaceAll("\\s*##\\s*", "");
            out.append(text, at, m.start()).append(expand(body, macros, depth + 1)).append('\n');
            at = close + 1;
        }
        return out.append(text.substring(at)).toString();
    }

    private static int matching(String text, int open) {
        int depth = 0;
        for (int i = open; i < text.length(); i++) {
            if (text.charAt(i) == '(') depth++;
            else if (text.charAt(i) == ')' && --depth == 0) return i;
        }
        throw new IllegalStateException("unbalanced parentheses after " + text.substring(open, Math.min(text.length(), open + 60)));
    }

    private static String types(String entry, String params) {
        StringBuilder t = new StringBuilder();
        if (params.isBlank()) return "";
        for (String p : params.split(",")) {
            String s = p.strip();
            if (s.contains("*")) t.append('p');
            else if (s.matches("(const\\s+)?(long|long long|size_t|int64_t)\\s+\\w+")) t.append('l');
            else if (s.matches("(const\\s+)?(int|unsigned|unsigned int|uint32_t)\\s+\\w+")) t.append('i');
            else if (s.matches("(const\\s+)?float\\s+\\w+")) t.append('f');
            else throw new IllegalStateException(entry + ": parameter '" + s + "' of a type launches cannot pass");
        }
        return t.toString();
    }
}
