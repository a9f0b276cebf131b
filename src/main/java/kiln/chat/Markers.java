package kiln.chat;

/** Helpers for finding markup that may be cut anywhere between two streamed pieces. */
final class Markers {
    private Markers() {}

    /** Length of the longest suffix of {@code text} that is a proper prefix of {@code marker}: text to hold back. */
    static int partialSuffix(String text, String marker) {
        for (int len = Math.min(text.length(), marker.length() - 1); len > 0; len--) {
            if (text.regionMatches(text.length() - len, marker, 0, len)) return len;
        }
        return 0;
    }

    /** True when {@code text} is a proper prefix of {@code marker} (more text may complete it). */
    static boolean proper(String text, String marker) {
        return text.length() < marker.length() && marker.startsWith(text);
    }
}
