package kiln.tokenizer;

/**
 * UTF-8 bytes to text, fed in pieces, with HF's replacement rule (Rust's {@code String::from_utf8_lossy}): each
 * maximal ill-formed subsequence becomes one U+FFFD. Whole-sequence decoding and streaming share this class, so a
 * stream can never disagree with the full decode: a character is emitted only once its last byte arrived, and a
 * U+FFFD only once the bytes so far can no longer become a character.
 */
final class LossyUtf8 {
    private final StringBuilder out;
    private int codePoint;
    /** Continuation bytes still expected. */
    private int need;
    /** Range allowed for the next continuation byte (narrower after E0, ED, F0, F4: Unicode's table 3-7). */
    private int low = 0x80, high = 0xBF;

    LossyUtf8(StringBuilder out) {
        this.out = out;
    }

    void accept(byte[] bytes) {
        for (byte b : bytes) accept(b & 0xFF);
    }

    void accept(int b) {
        if (need > 0) {
            if (b >= low && b <= high) {
                codePoint = (codePoint << 6) | (b & 0x3F);
                low = 0x80;
                high = 0xBF;
                if (--need == 0) out.appendCodePoint(codePoint);
                return;
            }
            out.append('\uFFFD'); // the sequence so far is broken; b starts afresh
            need = 0;
            low = 0x80;
            high = 0xBF;
        }
        if (b < 0x80) {
            out.append((char) b);
        } else if (b >= 0xC2 && b <= 0xDF) {
            codePoint = b & 0x1F;
            need = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
            codePoint = b & 0x0F;
            need = 2;
            if (b == 0xE0) low = 0xA0;
            if (b == 0xED) high = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            codePoint = b & 0x07;
            need = 3;
            if (b == 0xF0) low = 0x90;
            if (b == 0xF4) high = 0x8F;
        } else {
            out.append('\uFFFD');
        }
    }

    /** True when no character is half-received. */
    boolean atBoundary() {
        return need == 0;
    }

    /** Ends the input: an unfinished character becomes U+FFFD. */
    void finish() {
        if (need > 0) {
            out.append('\uFFFD');
            need = 0;
            low = 0x80;
            high = 0xBF;
        }
    }
}
