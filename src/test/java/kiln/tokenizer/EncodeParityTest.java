package kiln.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Every row of encode.json (694 strings) against HF tokenizers: ids, decode, decode without specials. */
class EncodeParityTest {
    private final Tokenizer tok = Tokenizers.bundled();

    @Test
    void everyRowEncodesToTheReferenceIds() {
        List<String> failures = new ArrayList<>();
        List<Reference.Row> rows = Reference.encodeRows();
        assertEquals(694, rows.size());
        for (int i = 0; i < rows.size(); i++) {
            Reference.Row r = rows.get(i);
            int[] got = tok.encode(r.text(), false);
            if (!Arrays.equals(r.ids(), got)) {
                failures.add("row " + i + " " + abbreviate(r.text()) + "\n  want " + Arrays.toString(r.ids()) + "\n  got  " + Arrays.toString(got));
            }
        }
        if (!failures.isEmpty()) fail(failures.size() + " rows differ:\n" + String.join("\n", failures.subList(0, Math.min(10, failures.size()))));
    }

    @Test
    void everyRowDecodesToTheReferenceText() {
        List<String> failures = new ArrayList<>();
        List<Reference.Row> rows = Reference.encodeRows();
        for (int i = 0; i < rows.size(); i++) {
            Reference.Row r = rows.get(i);
            if (!r.decoded().equals(tok.decode(r.ids(), false))) failures.add("row " + i + " (keep specials) " + abbreviate(r.text()));
            if (!r.decodedSkipSpecial().equals(tok.decode(r.ids(), true))) failures.add("row " + i + " (skip specials) " + abbreviate(r.text()));
        }
        if (!failures.isEmpty()) fail(failures.size() + " decodes differ:\n" + String.join("\n", failures.subList(0, Math.min(10, failures.size()))));
    }

    @Test
    void encodingFromManyThreadsAtOnceGivesTheSameIds() throws Exception {
        List<Reference.Row> rows = Reference.encodeRows();
        try (var pool = java.util.concurrent.Executors.newFixedThreadPool(8)) {
            List<java.util.concurrent.Future<Boolean>> results = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int offset = t * 87;
                results.add(pool.submit(() -> {
                    boolean same = true;
                    for (int i = 0; i < rows.size(); i++) {
                        Reference.Row r = rows.get((i + offset) % rows.size());
                        same &= Arrays.equals(r.ids(), tok.encode(r.text(), false));
                    }
                    return same;
                }));
            }
            for (var r : results) assertTrue(r.get());
        }
    }

    @Test
    void addSpecialTokensPutsBosInFront() {
        int[] ids = tok.encode("Hello!", true);
        assertEquals(0, ids[0]);
        assertEquals(0, tok.bosId());
        assertEquals(List.of(1), tok.eosIds());
        assertEquals(Arrays.toString(tok.encode("Hello!", false)), Arrays.toString(Arrays.copyOfRange(ids, 1, ids.length)));
        assertTrue(tok.isSpecial(0) && tok.isSpecial(1) && !tok.isSpecial(128803));
    }

    static String abbreviate(String s) {
        String q = s.replace("\n", "\\n");
        return "\"" + (q.length() > 80 ? q.substring(0, 80) + "..." : q) + "\"";
    }
}
