package kiln.tokenizer;

import java.util.function.IntFunction;

/**
 * Streaming decode for one generated sequence: feed ids as they are sampled, get the text they complete. A token
 * that ends inside a multi-byte character yields "" until the character's last byte arrives; the pieces joined
 * equal {@link Tokenizer#decode} of all ids, U+FFFD included exactly where the full decode has one. Not thread-safe:
 * one per request.
 */
public final class IncrementalDetokenizer {
    /** A token's bytes as the full decode uses them; null for tokens it leaves out (unknown, or skipped specials). */
    private final IntFunction<byte[]> bytes;
    private final StringBuilder text = new StringBuilder();
    private final LossyUtf8 utf8 = new LossyUtf8(text);

    IncrementalDetokenizer(IntFunction<byte[]> bytes) {
        this.bytes = bytes;
    }

    /** The text completed by {@code id} (maybe ""). Ids outside the vocabulary add nothing, as in HF's decode. */
    public String next(int id) {
        byte[] b = bytes.apply(id);
        if (b != null) utf8.accept(b);
        return drain();
    }

    /** The text completed by {@code ids}, in order. */
    public String next(int[] ids) {
        for (int id : ids) {
            byte[] b = bytes.apply(id);
            if (b != null) utf8.accept(b);
        }
        return drain();
    }

    /** True when the text so far ends on a whole character (nothing is held back). */
    public boolean atCharacterBoundary() {
        return utf8.atBoundary();
    }

    /** Ends the sequence: a character left unfinished comes out as U+FFFD, as the full decode shows it. */
    public String finish() {
        utf8.finish();
        return drain();
    }

    private String drain() {
        if (text.isEmpty()) return "";
        String s = text.toString();
        text.setLength(0);
        return s;
    }
}
