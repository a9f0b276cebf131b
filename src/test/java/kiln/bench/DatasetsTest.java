package kiln.bench;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Dataset lengths and contents (random-ids for the length logic; the byte tokenizer where text is needed). */
class DatasetsTest {
    private static final PrintStream NULL = new PrintStream(PrintStream.nullOutputStream());
    private final Utf8ByteTokenizer tok = new Utf8ByteTokenizer();

    static BenchOptions random(String name, int prompts, int in, int out, double ratio, boolean ids, String path) {
        return new BenchOptions(BackendKind.SGLANG, null, "0.0.0.0", null, null, null, name, path, prompts, null, null,
                in, out, ratio, Double.POSITIVE_INFINITY, null, 1, null, false, false, false, null, 1, false, ids,
                false, 4, 3, 40, 8, 5, 1.0, 0, true, null, List.of(), 300);
    }

    @Test
    void rangeRatioOneGivesExactLengths() {
        List<DatasetRow> rows = Datasets.build(random("random-ids", 50, 3200, 800, 1.0, true, ""), tok, NULL, NULL);
        assertEquals(50, rows.size());
        for (DatasetRow r : rows) {
            assertEquals(3200, r.promptLen());
            assertEquals(800, r.outputLen());
            assertEquals(3200, ((Prompt.TokenIds) r.prompt()).ids().length);
        }
    }

    @Test
    void lengthsAreUniformBetweenFloorOfRatioAndFull() {
        int[] xs = Lengths.sample(100, 0.5, 20000, new SplittableRandom(1));
        int min = Integer.MAX_VALUE, max = 0;
        double sum = 0;
        Map<Integer, Integer> counts = new HashMap<>();
        for (int x : xs) {
            min = Math.min(min, x);
            max = Math.max(max, x);
            sum += x;
            counts.merge(x, 1, Integer::sum);
        }
        assertEquals(50, min);
        assertEquals(100, max);
        assertEquals(51, counts.size());
        assertEquals(75.0, sum / xs.length, 0.5);
        // floor(10 * 0.35) = 3: lengths 3..10
        int[] small = Lengths.sample(10, 0.35, 5000, new SplittableRandom(2));
        assertEquals(3, java.util.Arrays.stream(small).min().orElseThrow());
        assertEquals(10, java.util.Arrays.stream(small).max().orElseThrow());
        // ratio 0: at least 1 token, never 0; full 0: all zero
        int[] zero = Lengths.sample(4, 0.0, 5000, new SplittableRandom(3));
        assertEquals(1, java.util.Arrays.stream(zero).min().orElseThrow());
        assertEquals(4, java.util.Arrays.stream(zero).max().orElseThrow());
        assertEquals(0, java.util.Arrays.stream(Lengths.sample(0, 0.5, 10, new SplittableRandom(4))).max().orElseThrow());
    }

    @Test
    void randomIdsAreConsecutiveFromARandomOffset() {
        List<DatasetRow> rows = Datasets.build(random("random-ids", 200, 64, 8, 0.25, true, ""), tok, NULL, NULL);
        long total = 0;
        java.util.Set<Integer> firsts = new java.util.HashSet<>();
        for (DatasetRow r : rows) {
            int[] ids = ((Prompt.TokenIds) r.prompt()).ids();
            assertEquals(r.promptLen(), ids.length);
            assertTrue(ids.length >= 16 && ids.length <= 64);
            assertTrue(r.outputLen() >= 2 && r.outputLen() <= 8);
            for (int j = 1; j < ids.length; j++) assertEquals((ids[j - 1] + 1) % 256, ids[j]);
            firsts.add(ids[0]);
            total += r.promptLen();
        }
        assertTrue(firsts.size() > 100, "offsets should vary: " + firsts.size());
        // the same seed builds the same requests
        List<DatasetRow> again = Datasets.build(random("random-ids", 200, 64, 8, 0.25, true, ""), tok, NULL, NULL);
        assertEquals(total, again.stream().mapToLong(DatasetRow::promptLen).sum());
    }

    @Test
    void randomIdsAsTextAreDecoded() {
        List<DatasetRow> rows = Datasets.build(random("random-ids", 5, 20, 4, 1.0, false, ""), tok, NULL, NULL);
        for (DatasetRow r : rows) assertInstanceOf(Prompt.Text.class, r.prompt());
    }

    @Test
    void randomWithoutShareGptFileFallsBackToRandomIdsAndSaysSo() {
        Assumptions.assumeTrue(ShareGptFile.locate("") == null, "a ShareGPT file is installed on this machine");
        ByteArrayOutputStream warn = new ByteArrayOutputStream();
        List<DatasetRow> rows = Datasets.build(random("random", 6, 30, 5, 1.0, false, ""), tok, NULL,
                new PrintStream(warn, true, StandardCharsets.UTF_8));
        assertEquals(6, rows.size());
        assertTrue(warn.toString(StandardCharsets.UTF_8).contains("using random-ids prompts instead"), warn.toString());
    }

    @Test
    void randomCutsAndRepeatsShareGptPrompts(@TempDir Path dir) throws Exception {
        Path file = shareGpt(dir);
        List<DatasetRow> rows = Datasets.build(random("random", 3, 40, 6, 1.0, false, file.toString()), tok, NULL, NULL);
        List<String> sources = List.of("Why is the sky blue?", "Name three rivers in Europe.", "hi", "Summarize the plot of Hamlet in one line.");
        for (DatasetRow r : rows) {
            String text = ((Prompt.Text) r.prompt()).text();
            assertEquals(40, r.promptLen());
            assertEquals(40, text.length());
            assertTrue(sources.stream().anyMatch(s -> text.equals(s.repeat(40 / s.length() + 1).substring(0, 40))), text);
        }
        // a path that does not exist is an error naming the flag, not a silent fallback
        var e = assertThrows(BenchException.class, () -> Datasets.build(random("random", 3, 40, 6, 1.0, false,
                dir.resolve("missing.json").toString()), tok, NULL, NULL));
        assertTrue(e.getMessage().contains("--dataset-path"));
    }

    @Test
    void shareGptUsesFirstTwoTurnsAndDropsShortAndLongPairs(@TempDir Path dir) throws Exception {
        Path file = shareGpt(dir);
        List<DatasetRow> rows = Datasets.build(random("sharegpt", 10, 0, 0, 0, false, file.toString()), tok, NULL, NULL);
        // "hi" -> "x": a 1-token answer is dropped; the one-turn conversation never counts
        assertEquals(3, rows.size());
        for (DatasetRow r : rows) {
            String p = ((Prompt.Text) r.prompt()).text();
            assertEquals(p.length(), r.promptLen());
        }
        assertEquals("Rayleigh scattering.".length(), rows.stream().filter(r -> ((Prompt.Text) r.prompt()).text().startsWith("Why"))
                .findFirst().orElseThrow().outputLen());
        BenchOptions ctx = new BenchOptions(BackendKind.SGLANG, null, "0.0.0.0", null, null, null, "sharegpt",
                file.toString(), 10, 4, 30, 0, 0, 0, Double.POSITIVE_INFINITY, null, 1, null, false, false, false, null, 1,
                false, false, false, 4, 3, 40, 8, 5, 1.0, 0, true, null, List.of(), 300);
        List<DatasetRow> limited = Datasets.build(ctx, tok, NULL, NULL);
        for (DatasetRow r : limited) {
            assertEquals(4, r.outputLen());
            assertTrue(r.promptLen() + 4 <= 30);
        }
        assertEquals(2, limited.size()); // the 41-byte Hamlet prompt + 4 exceeds 30
    }

    @Test
    void generatedSharedPrefixGroupsShareTheirSystemPrompt() {
        BenchOptions o = random("generated-shared-prefix", 999, 0, 0, 0, false, "");
        List<DatasetRow> rows = Datasets.build(o, tok, NULL, NULL);
        assertEquals(4 * 3, rows.size());
        Map<String, Integer> bySystem = new HashMap<>();
        for (DatasetRow r : rows) {
            String text = ((Prompt.Text) r.prompt()).text();
            int sep = text.indexOf("\n\n");
            assertTrue(sep >= 0);
            bySystem.merge(text.substring(0, sep), 1, Integer::sum);
            assertEquals(tok.encode(text, true).length, r.promptLen());
            assertEquals(5, r.outputLen());
        }
        assertEquals(4, bySystem.size(), "one system prompt per group");
        bySystem.values().forEach(n -> assertEquals(3, n));
    }

    static Path shareGpt(Path dir) throws Exception {
        String json = """
                [
                  {"id": "a", "conversations": [{"from": "human", "value": "Why is the sky blue?"}, {"from": "gpt", "value": "Rayleigh scattering."}]},
                  {"id": "b", "conversations": [{"from": "human", "value": "Name three rivers in Europe."}, {"from": "gpt", "value": "Rhine, Danube, Loire."}]},
                  {"id": "c", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "x"}]},
                  {"id": "d", "conversations": [{"from": "human", "value": "only one turn"}]},
                  {"id": "e", "conversation": [{"from": "human", "value": "Summarize the plot of Hamlet in one line."}, {"from": "gpt", "value": "A prince avenges his father."}]}
                ]
                """;
        Path file = dir.resolve("sharegpt.json");
        Files.writeString(file, json);
        return file;
    }
}
