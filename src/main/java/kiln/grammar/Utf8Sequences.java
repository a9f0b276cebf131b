package kiln.grammar;

import java.util.function.Consumer;

/**
 * Code point ranges as UTF-8 byte-range sequences: every character of {@code [lo, hi]} is encoded by exactly one
 * of the emitted sequences, each a list {@code [b0lo, b0hi, b1lo, b1hi, ...]} of per-byte ranges. This is what
 * lets the automata work on bytes (tokens split characters anywhere) while grammars speak of characters.
 */
final class Utf8Sequences {
    private Utf8Sequences() {}

    private static final int[] MAX_OF_LENGTH = {0x7F, 0x7FF, 0xFFFF, 0x10FFFF};

    static void forRange(int lo, int hi, Consumer<int[]> out) {
        int from = lo;
        for (int n = 1; n <= 4 && from <= hi; n++) {
            int max = MAX_OF_LENGTH[n - 1];
            if (from > max) continue;
            int to = Math.min(hi, max);
            split(from, to, n, out);
            from = to + 1;
        }
    }

    /** {@code [lo, hi]} all encode in {@code n} bytes; cut it where a lower byte would wrap. */
    private static void split(int lo, int hi, int n, Consumer<int[]> out) {
        for (int i = 1; i < n; i++) {
            int m = (1 << (6 * i)) - 1;
            if ((lo & ~m) != (hi & ~m)) {
                if ((lo & m) != 0) {
                    split(lo, lo | m, n, out);
                    split((lo | m) + 1, hi, n, out);
                    return;
                }
                if ((hi & m) != m) {
                    split(lo, (hi & ~m) - 1, n, out);
                    split(hi & ~m, hi, n, out);
                    return;
                }
            }
        }
        int[] a = encode(lo, n), b = encode(hi, n);
        int[] seq = new int[2 * n];
        for (int i = 0; i < n; i++) {
            seq[2 * i] = a[i];
            seq[2 * i + 1] = b[i];
        }
        out.accept(seq);
    }

    private static int[] encode(int cp, int n) {
        return switch (n) {
            case 1 -> new int[] {cp};
            case 2 -> new int[] {0xC0 | (cp >> 6), 0x80 | (cp & 0x3F)};
            case 3 -> new int[] {0xE0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3F), 0x80 | (cp & 0x3F)};
            default -> new int[] {0xF0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3F), 0x80 | ((cp >> 6) & 0x3F), 0x80 | (cp & 0x3F)};
        };
    }
}
