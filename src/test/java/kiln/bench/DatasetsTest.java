package kiln.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import kiln.chat.ChatTemplate;
import kiln.tokenizer.Tokenizer;
import kiln.tokenizer.Tokenizers;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The datasets, built with the tokenizer Kiln serves with (the bundled DeepSeek-V3/R1 one) on the small
 * ShareGPT-format file in testdata/bench: length distributions, lengths as the server will count them, SGLang's
 * filters, the chat template, shared prefixes, and retokenized counts against HF tokenizers' reference ids.
 */
class DatasetsTest {
    static final Path SHAREGPT = Path.of("testdata", "bench", "sharegpt-mini.json");
    private static final PrintStream NULL = new PrintStream(PrintStream.nullOutputStream());
    private final Tokenizer tok = Tokenizers.bundled();

    static BenchOptions options(String dataset, int prompts, int in, int out, double ratio, boolean ids,
                                Integer sharegptOutputLen, Integer contextLen, boolean chatTemplate) {
        return options(dataset, SHAREGPT.toString(), prompts, in, out, ratio, ids, sharegptOutputLen, contextLen, chatTemplate);
    }

    static BenchOptions options(String dataset, String path, int prompts, int in, int out, double ratio, boolean ids,
                                Integer sharegptOutputLen, Integer contextLen, boolean chatTemplate) {
        return new BenchOptions(BackendKind.SGLANG, null, "0.0.0.0", null, null, null, dataset, path, prompts,
                sharegptOutputLen, contextLen, in, out, ratio, Double.POSITIVE_INFINITY, null, 7, null, false, false,
                false, null, 1, false, ids, chatTemplate, 3, 4, 48, 6, 5, 1.0, 0, true, null, List.of(), 300);
    }

    @Test
    void rangeRatioOneGivesExactLengths() {
        List<DatasetRow> rows = Datasets.build(options("random-ids", "", 50, 3200, 800, 1.0, true, null, null, false), tok, NULL, NULL);
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
        assertEquals(3, Arrays.stream(small).min().orElseThrow());
        assertEquals(10, Arrays.stream(small).max().orElseThrow());
        // ratio 0: at least 1 token, never 0; full 0: all zero
        int[] zero = Lengths.sample(4, 0.0, 5000, new SplittableRandom(3));
        assertEquals(1, Arrays.stream(zero).min().orElseThrow());
        assertEquals(4, Arrays.stream(zero).max().orElseThrow());
        assertEquals(0, Arrays.stream(Lengths.sample(0, 0.5, 10, new SplittableRandom(4))).max().orElseThrow());
    }

    @Test
    void randomIdsAreConsecutiveFromARandomOffset() {
        List<DatasetRow> rows = Datasets.build(options("random-ids", "", 200, 64, 8, 0.25, true, null, null, false), tok, NULL, NULL);
        long total = 0;
        Set<Integer> firsts = new HashSet<>();
        for (DatasetRow r : rows) {
            int[] ids = ((Prompt.TokenIds) r.prompt()).ids();
            assertEquals(r.promptLen(), ids.length);
            assertTrue(ids.length >= 16 && ids.length <= 64);
            assertTrue(r.outputLen() >= 2 && r.outputLen() <= 8);
            for (int j = 1; j < ids.length; j++) assertEquals((ids[j - 1] + 1) % tok.vocabSize(), ids[j]);
            firsts.add(ids[0]);
            total += r.promptLen();
        }
        assertTrue(firsts.size() > 190, "offsets should vary: " + firsts.size());
        // the same seed builds the same requests
        List<DatasetRow> again = Datasets.build(options("random-ids", "", 200, 64, 8, 0.25, true, null, null, false), tok, NULL, NULL);
        assertEquals(total, again.stream().mapToLong(DatasetRow::promptLen).sum());
    }

    @Test
    void randomWithoutShareGptFileFallsBackToRandomIdsAndSaysSo() {
        Assumptions.assumeTrue(ShareGptFile.locate("") == null, "a ShareGPT file is installed on this machine");
        ByteArrayOutputStream warn = new ByteArrayOutputStream();
        List<DatasetRow> rows = Datasets.build(options("random", "", 6, 30, 5, 1.0, false, null, null, false), tok, NULL,
                new PrintStream(warn, true, StandardCharsets.UTF_8));
        assertEquals(6, rows.size());
        for (DatasetRow r : rows) assertInstanceOf(Prompt.Text.class, r.prompt());
        assertTrue(warn.toString(StandardCharsets.UTF_8).contains("using random-ids prompts instead"), warn.toString());
    }

    @Test
    void aMissingDatasetPathIsAnErrorNotAFallback(@TempDir Path dir) {
        var e = assertThrows(BenchException.class, () -> Datasets.build(options("random",
                dir.resolve("missing.json").toString(), 3, 40, 6, 1.0, false, null, null, false), tok, NULL, NULL));
        assertEquals("--dataset-path " + dir.resolve("missing.json") + ": no such file", e.getMessage());
        // a file with fewer usable prompts than asked for says so
        e = assertThrows(BenchException.class, () -> Datasets.build(options("random", 10, 40, 6, 1.0, false, null, null, false), tok, NULL, NULL));
        assertEquals(SHAREGPT + " has only 9 usable prompts; --num-prompts asks for 10", e.getMessage());
    }

    @Test
    void randomTextPromptsEncodeToExactlyTheDrawnLength() {
        // range ratio 0.1: lengths from 4 to 40, so some prompts are cut and others repeat their source many times
        int n = 9;
        List<DatasetRow> rows = Datasets.build(options("random", n, 40, 6, 0.1, false, null, null, false), tok, NULL, NULL);
        int[] drawn = Lengths.sample(40, 0.1, n, new SplittableRandom(7)); // the first draw of the dataset's generator
        assertEquals(n, rows.size());
        for (int i = 0; i < n; i++) {
            DatasetRow r = rows.get(i);
            String text = ((Prompt.Text) r.prompt()).text();
            assertEquals(drawn[i], r.promptLen(), "prompt " + i);
            // what the server computes: the text encoded with special tokens (BOS in front)
            int[] ids = tok.encode(text, true);
            assertEquals(drawn[i], ids.length, "prompt " + i + ": " + text);
            assertEquals(tok.bosId(), ids[0]);
            assertFalse(text.contains(tok.bosToken().orElseThrow()), "no BOS inside the text: " + text);
        }
        assertTrue(Arrays.stream(drawn).distinct().count() > 5, "lengths vary: " + Arrays.toString(drawn));
    }

    @Test
    void randomPromptsComeFromTheShareGptFirstTurns() throws Exception {
        List<String> firstTurns = ShareGptFile.read(SHAREGPT).stream().map(ShareGptFile.Pair::prompt).toList();
        List<DatasetRow> rows = Datasets.build(options("random", 8, 30, 4, 1.0, false, null, null, false), tok, NULL, NULL);
        for (DatasetRow r : rows) {
            String text = ((Prompt.Text) r.prompt()).text();
            // a 30-token prompt is a first turn cut short, or a short one repeated: it starts like one of them
            assertTrue(firstTurns.stream().anyMatch(p -> text.startsWith(p.substring(0, Math.min(p.length(), 2)))
                    && (p.startsWith(text) || text.startsWith(p))), text);
        }
    }

    @Test
    void tokenizedPromptsAreBosThenThePromptsTokensCutOrRepeated() throws Exception {
        List<int[]> sources = new ArrayList<>();
        for (ShareGptFile.Pair p : ShareGptFile.read(SHAREGPT)) sources.add(tok.encode(p.prompt(), false));
        int n = 9;
        List<DatasetRow> rows = Datasets.build(options("random", n, 64, 4, 0.25, true, null, null, false), tok, NULL, NULL);
        int[] drawn = Lengths.sample(64, 0.25, n, new SplittableRandom(7));
        for (int i = 0; i < n; i++) {
            int[] ids = ((Prompt.TokenIds) rows.get(i).prompt()).ids();
            assertEquals(drawn[i], ids.length);
            assertEquals(drawn[i], rows.get(i).promptLen());
            assertEquals(tok.bosId(), ids[0]);
            int[] body = Arrays.copyOfRange(ids, 1, ids.length);
            assertTrue(sources.stream().anyMatch(s -> Arrays.equals(body, cycle(s, body.length))), Arrays.toString(ids));
        }
    }

    @Test
    void randomIdsAsTextAreFittedToo() {
        // consecutive vocabulary ids decode to gibberish whose re-encoding drifts: the fitter settles it
        int n = 12;
        ByteArrayOutputStream warn = new ByteArrayOutputStream();
        List<DatasetRow> rows = Datasets.build(options("random-ids", "", n, 48, 4, 0.5, false, null, null, false), tok, NULL,
                new PrintStream(warn, true, StandardCharsets.UTF_8));
        int[] drawn = Lengths.sample(48, 0.5, n, new SplittableRandom(7));
        int exact = 0;
        for (int i = 0; i < n; i++) {
            DatasetRow r = rows.get(i);
            int real = tok.encode(((Prompt.Text) r.prompt()).text(), true).length;
            assertEquals(real, r.promptLen(), "the row carries the real count");
            if (real == drawn[i]) exact++;
        }
        assertTrue(exact >= n - 1, exact + " of " + n + " fitted; " + warn);
        // with --tokenize-prompt the ids are the definition itself: (offset + i + j) % vocab
        List<DatasetRow> ids = Datasets.build(options("random-ids", "", n, 48, 4, 0.5, true, null, null, false), tok, NULL, NULL);
        for (int i = 0; i < n; i++) {
            int[] x = ((Prompt.TokenIds) ids.get(i).prompt()).ids();
            assertEquals(drawn[i], x.length);
            for (int j = 1; j < x.length; j++) assertEquals((x[j - 1] + 1) % tok.vocabSize(), x[j]);
        }
    }

    @Test
    void shareGptLengthsAndFiltersAsSglang() throws Exception {
        Map<String, String> answers = new LinkedHashMap<>();
        for (ShareGptFile.Pair p : ShareGptFile.read(SHAREGPT)) answers.put(p.prompt(), p.completion());
        // k05 has one turn; k04's answer is empty: [BOS] alone is under 2 tokens
        assertEquals(9, answers.size());
        List<DatasetRow> rows = Datasets.build(options("sharegpt", 100, 0, 0, 0, false, null, null, false), tok, NULL, NULL);
        assertEquals(8, rows.size());
        for (DatasetRow r : rows) {
            String prompt = ((Prompt.Text) r.prompt()).text();
            assertTrue(answers.containsKey(prompt), prompt);
            assertEquals(tok.encode(prompt, true).length, r.promptLen(), prompt);
            assertEquals(tok.encode(answers.get(prompt), true).length, r.outputLen(), prompt);
            assertTrue(r.outputLen() >= 2);
        }
        // the longest pair of the file, the Chinese one, is known: 12 + 30 tokens with BOS each
        DatasetRow cn = rows.stream().filter(r -> ((Prompt.Text) r.prompt()).text().startsWith("请")).findFirst().orElseThrow();
        assertEquals(tok.encode("请用一句话解释什么是前缀缓存。", true).length, cn.promptLen());

        // --sharegpt-output-len fixes the output; --sharegpt-context-len drops pairs longer than it together
        int ctx = 20;
        List<DatasetRow> limited = Datasets.build(options("sharegpt", 100, 0, 0, 0, false, 4, ctx, false), tok, NULL, NULL);
        long fitting = rows.stream().filter(r -> r.promptLen() + 4 <= ctx).count();
        assertTrue(fitting > 0 && fitting < rows.size(), "the limit must drop some and keep some: " + fitting);
        assertEquals(fitting, limited.size());
        for (DatasetRow r : limited) {
            assertEquals(4, r.outputLen());
            assertTrue(r.promptLen() + 4 <= ctx);
        }
        // --num-prompts takes the first of the shuffled pairs
        assertEquals(3, Datasets.build(options("sharegpt", 3, 0, 0, 0, false, null, null, false), tok, NULL, NULL).size());
    }

    @Test
    void applyChatTemplateRendersOneUserTurnAsSglang() {
        List<DatasetRow> plain = Datasets.build(options("sharegpt", 100, 0, 0, 0, false, null, null, false), tok, NULL, NULL);
        List<DatasetRow> chat = Datasets.build(options("sharegpt", 100, 0, 0, 0, false, null, null, true), tok, NULL, NULL);
        assertEquals(plain.size(), chat.size());
        ChatTemplate template = tok.chatTemplate().orElseThrow();
        String bos = tok.bosToken().orElseThrow();
        for (int i = 0; i < chat.size(); i++) {
            String prompt = ((Prompt.Text) plain.get(i).prompt()).text();
            String rendered = ((Prompt.Text) chat.get(i).prompt()).text();
            // R1's template: BOS, the user turn, the assistant tag, then the opened thinking block; BOS text removed
            assertEquals("<｜User｜>" + prompt + "<｜Assistant｜><think>\n", rendered);
            assertEquals(template.render(List.of(Map.of("role", "user", "content", prompt)), null, true), bos + rendered);
            assertEquals(tok.encode(rendered, true).length, chat.get(i).promptLen());
            assertEquals(plain.get(i).outputLen(), chat.get(i).outputLen());
        }
        // other datasets are sent as they are, with a warning (SGLang ignores the flag there)
        ByteArrayOutputStream warn = new ByteArrayOutputStream();
        Datasets.build(options("random", 2, 8, 2, 1.0, false, null, null, true), tok, NULL, new PrintStream(warn, true, StandardCharsets.UTF_8));
        assertTrue(warn.toString(StandardCharsets.UTF_8).contains("--apply-chat-template applies to --dataset-name sharegpt only"), warn.toString());
    }

    @Test
    void applyChatTemplateWithoutATemplateIsAClearError(@TempDir Path dir) throws Exception {
        Tokenizer noTemplate = TokenizerResolverTest.variant(dir, "gpt2-style");
        var e = assertThrows(BenchException.class,
                () -> Datasets.build(options("sharegpt", 3, 0, 0, 0, false, null, null, true), noTemplate, NULL, NULL));
        assertTrue(e.getMessage().startsWith("--apply-chat-template: the tokenizer has no chat template"), e.getMessage());
    }

    @Test
    void sharedPrefixGroupsShareTheSystemPromptsTokens() {
        List<DatasetRow> rows = Datasets.build(options("generated-shared-prefix", 1, 0, 0, 0, false, null, null, false), tok, NULL, NULL);
        assertEquals(3 * 4, rows.size());
        // group the rows by their first characters (each system prompt is 48 random tokens), as the server's radix
        // tree groups them by their first tokens
        Map<String, List<int[]>> groups = new HashMap<>();
        Map<String, List<String>> texts = new HashMap<>();
        for (DatasetRow r : rows) {
            String text = ((Prompt.Text) r.prompt()).text();
            int[] ids = tok.encode(text, true);
            assertEquals(ids.length, r.promptLen());
            assertEquals(5, r.outputLen());
            groups.computeIfAbsent(text.substring(0, 12), k -> new ArrayList<>()).add(ids);
            texts.computeIfAbsent(text.substring(0, 12), k -> new ArrayList<>()).add(text);
        }
        assertEquals(3, groups.size(), "one system prompt per group");
        for (var e : groups.entrySet()) {
            List<int[]> members = e.getValue();
            assertEquals(4, members.size());
            String system = commonPrefix(texts.get(e.getKey()));
            // the system prompt alone encodes to its 48 drawn tokens; every member starts with BOS and those tokens
            // (the last may merge with the "\n\n" that follows it)
            int[] systemIds = tok.encode(system.substring(0, system.lastIndexOf("\n\n")), false);
            assertEquals(48, systemIds.length, system);
            int shared = Integer.MAX_VALUE;
            for (int[] m : members) shared = Math.min(shared, commonPrefix(m, members.getFirst()));
            assertTrue(shared >= 48, "group shares " + shared + " tokens");
            for (int[] m : members) assertArrayEquals(Arrays.copyOf(systemIds, 47), Arrays.copyOfRange(m, 1, 48));
            // each question adds its own 6 tokens (and "\n\n" one more, unless it merged)
            for (int[] m : members) assertTrue(m.length >= 1 + 47 + 6, "length " + m.length);
        }
    }

    @Test
    void retokenizedCountsAreTheReferenceTokenCounts() throws Exception {
        JsonNode reference = new ObjectMapper().readTree(Path.of("testdata", "fixtures", "tokenizer-reference", "encode.json").toFile());
        List<DatasetRow> rows = new ArrayList<>();
        List<RequestOutput> outputs = new ArrayList<>();
        long expected = 0;
        int k = 0;
        for (JsonNode row : reference.get("rows")) {
            if (k++ % 7 != 0) continue; // a spread of the 694 reference texts: scripts, code, emoji, edge cases
            String text = row.get("text").asText();
            expected += row.get("ids").size();
            rows.add(new DatasetRow(new Prompt.Text("p"), 1, 1));
            outputs.add(new RequestOutput(true, text, 1.0, 0.5, new double[0], 1, 1, "", 0));
        }
        Metrics m = Metrics.compute(rows, outputs, 10.0, text -> tok.encode(text, false).length);
        assertEquals(expected, m.totalOutputRetokenized());
        assertTrue(expected > 1000, "a real sample: " + expected);
    }

    static int[] cycle(int[] source, int len) {
        int[] out = new int[len];
        for (int j = 0; j < len; j++) out[j] = source[j % source.length];
        return out;
    }

    static int commonPrefix(int[] a, int[] b) {
        int n = 0;
        while (n < a.length && n < b.length && a[n] == b[n]) n++;
        return n;
    }

    static String commonPrefix(List<String> texts) {
        String p = texts.getFirst();
        for (String t : texts) {
            int n = 0;
            while (n < p.length() && n < t.length() && p.charAt(n) == t.charAt(n)) n++;
            p = p.substring(0, n);
        }
        return p;
    }
}
