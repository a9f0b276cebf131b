package kiln.bench;

import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;

/**
 * The lines of a streamed answer as byte ranges, whitespace stripped at both ends (as SGLang's
 * {@code chunk_bytes.strip()}), read straight from the socket's bytes: no decoding to chars and no String per
 * line, since native SGLang events repeat the whole text so far and dominate the client's cost.
 */
final class SseLines {
    private final InputStream in;
    byte[] buf = new byte[1 << 16];
    private int pos, limit, scanned;
    /** The current line: {@code buf[start, end)}. */
    int start, end;

    SseLines(InputStream in) {
        this.in = in;
    }

    /** Advances to the next line; false at the end of the stream. */
    boolean next() throws IOException {
        while (true) {
            for (int i = Math.max(pos, scanned); i < limit; i++) {
                if (buf[i] == '\n') {
                    take(pos, i);
                    pos = scanned = i + 1;
                    return true;
                }
            }
            scanned = limit;
            if (pos > 0) {
                System.arraycopy(buf, pos, buf, 0, limit - pos);
                limit -= pos;
                scanned -= pos;
                pos = 0;
            }
            if (limit == buf.length) buf = Arrays.copyOf(buf, buf.length * 2);
            int n = in.read(buf, limit, buf.length - limit);
            if (n < 0) {
                if (limit > pos) {
                    take(pos, limit);
                    pos = scanned = limit;
                    return true;
                }
                return false;
            }
            limit += n;
        }
    }

    private void take(int s, int e) {
        while (s < e && buf[s] <= ' ' && buf[s] >= 0) s++;
        while (e > s && buf[e - 1] <= ' ' && buf[e - 1] >= 0) e--;
        start = s;
        end = e;
    }

    boolean isEmpty() {
        return start == end;
    }

    boolean startsWith(String ascii) {
        if (end - start < ascii.length()) return false;
        for (int i = 0; i < ascii.length(); i++) if (buf[start + i] != ascii.charAt(i)) return false;
        return true;
    }

    boolean is(String ascii) {
        return end - start == ascii.length() && startsWith(ascii);
    }

    /** Drops {@code n} leading bytes and the spaces after them ("data:" prefixes). */
    void skip(int n) {
        start += n;
        while (start < end && buf[start] == ' ') start++;
    }

    String text() {
        return new String(buf, start, end - start, java.nio.charset.StandardCharsets.UTF_8);
    }
}
