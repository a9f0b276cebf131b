package kiln.tokenizer;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Ill-formed UTF-8 becomes U+FFFD per maximal subpart, as in HF (Rust's from_utf8_lossy). Expected values are
 * CPython's {@code bytes.decode('utf-8', 'replace')}, which follows the same Unicode recommendation.
 */
class LossyUtf8Test {
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "e080|\uFFFD\uFFFD",
        "f09f98|\uFFFD",
        "eda080|\uFFFD\uFFFD\uFFFD",
        "c0af|\uFFFD\uFFFD",
        "f4908080|\uFFFD\uFFFD\uFFFD\uFFFD",
        "618062|a\uFFFDb",
        "e28278|\uFFFDx",
        "f09f988080|\uD83D\uDE00\uFFFD",
        "feff|\uFFFD\uFFFD",
        "e282ace2|\u20AC\uFFFD",
    })
    void replacesLikeHf(String hex, String expected) {
        byte[] bytes = HexFormat.of().parseHex(hex);
        StringBuilder whole = new StringBuilder();
        LossyUtf8 all = new LossyUtf8(whole);
        all.accept(bytes);
        all.finish();
        assertEquals(expected, whole.toString());

        StringBuilder streamed = new StringBuilder();
        LossyUtf8 oneByOne = new LossyUtf8(streamed);
        for (byte b : bytes) oneByOne.accept(b & 0xFF);
        oneByOne.finish();
        assertEquals(expected, streamed.toString());
    }
}
