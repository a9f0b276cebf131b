package kiln.tokenizer;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * HF's {@code Split} pre-tokenizer: cuts each piece at the matches of a pattern and keeps, drops or attaches the
 * matched parts as {@code behavior} says. Pieces are ranges [start, end) of one string, kept in an {@link IntList}
 * as pairs, so splitting allocates no strings.
 *
 * @param pattern what delimits; with {@code invert} the matches are the pieces and the gaps the delimiters
 * @param run     a table-driven matcher for the same pattern when it is one character class repeated, else null
 */
record Split(Pattern pattern, CharClassRun run, Behavior behavior, boolean invert) {
    enum Behavior { REMOVED, ISOLATED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS }

    /** The GPT-2 pattern that HF's ByteLevel pre-tokenizer applies when {@code use_regex} is true. */
    static final String GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    /**
     * Java's engine agrees with Oniguruma (HF's) on the syntax these tokenizers use; {@code UNICODE_CHARACTER_CLASS}
     * makes {@code \s}, {@code \w}, {@code \d} and {@code (?i)} Unicode-aware as they are in Oniguruma (Java's
     * defaults are ASCII-only).
     */
    static final int FLAGS = Pattern.UNICODE_CHARACTER_CLASS;

    /** A split on a tokenizer.json regex. */
    static Split regex(String regex, Behavior behavior, boolean invert) {
        return new Split(Pattern.compile(regex, FLAGS), CharClassRun.of(regex, FLAGS), behavior, invert);
    }

    /** A split on a literal string. */
    static Split literal(String text, Behavior behavior, boolean invert) {
        return new Split(Pattern.compile(Pattern.quote(text)), null, behavior, invert);
    }

    /** Splits every range of {@code in} (pairs start, end over {@code text}) and appends the pieces to {@code out}. */
    void apply(String text, IntList in, IntList out) {
        Matcher m = run == null ? pattern.matcher(text) : null;
        IntList matches = new IntList(32);
        for (int r = 0; r < in.size(); r += 2) {
            int start = in.get(r), end = in.get(r + 1);
            matches.clear();
            if (run != null) {
                run.find(text, start, end, matches);
            } else {
                // Opaque bounds (the default) keep look-ahead such as \s+(?!\S) inside the piece, as HF matching a substring does.
                m.region(start, end);
                while (m.find()) {
                    if (m.start() == m.end()) continue;
                    matches.add(m.start());
                    matches.add(m.end());
                }
            }
            split(matches, start, end, out);
        }
    }

    private void split(IntList matches, int start, int end, IntList out) {
        if (behavior == Behavior.ISOLATED) { // the common case, without the parts list
            int pos = start;
            for (int k = 0; k < matches.size(); k += 2) {
                emit(pos, matches.get(k), out);
                emit(matches.get(k), matches.get(k + 1), out);
                pos = matches.get(k + 1);
            }
            emit(pos, end, out);
            return;
        }
        IntList parts = new IntList(16); // triples: start, end, 1 if delimiter
        int pos = start;
        for (int k = 0; k < matches.size(); k += 2) {
            if (pos < matches.get(k)) part(parts, pos, matches.get(k), invert);
            part(parts, matches.get(k), matches.get(k + 1), !invert);
            pos = matches.get(k + 1);
        }
        if (pos < end) part(parts, pos, end, invert);
        switch (behavior) {
            case REMOVED -> {
                for (int i = 0; i < parts.size(); i += 3) if (parts.get(i + 2) == 0) emit(parts.get(i), parts.get(i + 1), out);
            }
            case MERGED_WITH_PREVIOUS -> {
                // A delimiter joins the part before it unless that part is a delimiter too.
                int s = -1, e = -1;
                boolean previousDelimiter = false;
                for (int i = 0; i < parts.size(); i += 3) {
                    boolean delimiter = parts.get(i + 2) == 1;
                    if (delimiter && !previousDelimiter && s >= 0) {
                        e = parts.get(i + 1);
                    } else {
                        if (s >= 0) emit(s, e, out);
                        s = parts.get(i);
                        e = parts.get(i + 1);
                    }
                    previousDelimiter = delimiter;
                }
                if (s >= 0) emit(s, e, out);
            }
            case MERGED_WITH_NEXT -> {
                // A delimiter joins the part after it unless that part is a delimiter too.
                int s = -1;
                for (int i = 0; i < parts.size(); i += 3) {
                    boolean delimiter = parts.get(i + 2) == 1;
                    boolean nextIsPlain = i + 3 < parts.size() && parts.get(i + 5) == 0;
                    if (s < 0) s = parts.get(i);
                    if (!(delimiter && nextIsPlain)) {
                        emit(s, parts.get(i + 1), out);
                        s = -1;
                    }
                }
            }
            case CONTIGUOUS -> {
                // Runs of adjacent delimiters become one piece.
                int s = -1, e = -1;
                boolean previousDelimiter = false;
                for (int i = 0; i < parts.size(); i += 3) {
                    boolean delimiter = parts.get(i + 2) == 1;
                    if (s >= 0 && delimiter == previousDelimiter) {
                        e = parts.get(i + 1);
                    } else {
                        if (s >= 0) emit(s, e, out);
                        s = parts.get(i);
                        e = parts.get(i + 1);
                    }
                    previousDelimiter = delimiter;
                }
                if (s >= 0) emit(s, e, out);
            }
            case ISOLATED -> throw new AssertionError();
        }
    }

    private static void part(IntList parts, int s, int e, boolean delimiter) {
        parts.add(s);
        parts.add(e);
        parts.add(delimiter ? 1 : 0);
    }

    private static void emit(int s, int e, IntList out) {
        if (s < e) {
            out.add(s);
            out.add(e);
        }
    }
}
