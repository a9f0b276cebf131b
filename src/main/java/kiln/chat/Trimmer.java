package kiln.chat;

/**
 * Strips a text that arrives in pieces, as {@code String.strip()} would strip the whole: leading whitespace is
 * dropped, trailing whitespace is held back until more text shows it was inside, and dropped at the end.
 */
final class Trimmer {
    private boolean started;
    private String held = "";

    /** The part of {@code piece} that is certainly in the stripped text. */
    String push(String piece) {
        if (!started) {
            piece = piece.stripLeading();
            if (piece.isEmpty()) return "";
            started = true;
        }
        String text = held + piece;
        int end = text.length();
        while (end > 0 && Character.isWhitespace(text.charAt(end - 1))) end--;
        held = text.substring(end);
        return text.substring(0, end);
    }

    /** Drops what is held: trailing whitespace of the whole. */
    void end() {
        held = "";
    }
}
