package kiln.bench;

import kiln.tokenizer.Tokenizer;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/**
 * The request sets of sglang.bench_serving, built the same way (the random draws differ from numpy's, the
 * distributions do not): {@code random}, {@code random-ids}, {@code sharegpt}, {@code generated-shared-prefix}.
 */
public final class Datasets {
    private Datasets() {}

    public static List<DatasetRow> build(BenchOptions o, Tokenizer tokenizer, PrintStream log, PrintStream warn) {
        RandomGenerator rng = new SplittableRandom(o.seed());
        return switch (o.datasetName()) {
            case "sharegpt" -> shareGpt(o, tokenizer, rng, log);
            case "random", "random-ids" -> random(o, tokenizer, rng, log, warn);
            case "generated-shared-prefix" -> sharedPrefix(o, tokenizer, rng, log);
            default -> throw new IllegalArgumentException("--dataset-name: unknown dataset " + o.datasetName());
        };
    }

    /**
     * {@code random}: real prompts from a ShareGPT file, tokenized, cut or repeated to each drawn length, decoded
     * back to text. Without a ShareGPT file it falls back to {@code random-ids} and says so. {@code random-ids}:
     * token ids {@code (offset_i + i + j) % vocab} with a random offset per request.
     */
    static List<DatasetRow> random(BenchOptions o, Tokenizer tok, RandomGenerator rng, PrintStream log, PrintStream warn) {
        int n = o.numPrompts();
        int[] inputLens = Lengths.sample(o.randomInputLen(), o.randomRangeRatio(), n, rng);
        int[] outputLens = Lengths.sample(o.randomOutputLen(), o.randomRangeRatio(), n, rng);
        boolean text = !o.tokenizePrompt();
        List<DatasetRow> rows = new ArrayList<>(n);
        Path file = o.datasetName().equals("random") ? ShareGptFile.locate(o.datasetPath()) : null;
        if (o.datasetName().equals("random") && file == null)
            warn.println("WARNING --dataset-name random needs ShareGPT prompts and no ShareGPT file was found (give "
                    + "--dataset-path, or put " + ShareGptFile.FILE_NAME + " in ~/.cache/kiln/); using random-ids prompts instead.");
        if (file != null) {
            List<ShareGptFile.Pair> pairs = new ArrayList<>(ShareGptFile.read(file));
            Collections.shuffle(pairs, rng);
            for (ShareGptFile.Pair pair : pairs) {
                int i = rows.size();
                if (i == n) break;
                int[] ids = tok.encode(pair.prompt(), true);
                if (ids.length == 0) continue;
                int[] cut = new int[inputLens[i]];
                for (int j = 0; j < cut.length; j++) cut[j] = ids[j % ids.length];
                rows.add(new DatasetRow(prompt(cut, text, tok), inputLens[i], outputLens[i]));
            }
            if (rows.size() < n) throw new BenchException(file + " has only " + rows.size() + " usable prompts; --num-prompts asks for " + n);
        } else {
            int vocab = tok.vocabSize();
            for (int i = 0; i < n; i++) {
                int offset = rng.nextInt(vocab);
                int[] ids = new int[inputLens[i]];
                for (int j = 0; j < ids.length; j++) ids[j] = (int) (((long) offset + i + j) % vocab);
                rows.add(new DatasetRow(prompt(ids, text, tok), inputLens[i], outputLens[i]));
            }
        }
        log.println("#Input tokens: " + Arrays.stream(inputLens).asLongStream().sum());
        log.println("#Output tokens: " + Arrays.stream(outputLens).asLongStream().sum());
        return rows;
    }

    private static Prompt prompt(int[] ids, boolean text, Tokenizer tok) {
        return text ? new Prompt.Text(tok.decode(ids, false)) : new Prompt.TokenIds(ids);
    }

    /**
     * {@code sharegpt}: the first turn of shuffled conversations as prompts, the second turn's token count (or
     * {@code --sharegpt-output-len}) as output length; pairs under 2 tokens, or over {@code --sharegpt-context-len}
     * together, are skipped.
     */
    static List<DatasetRow> shareGpt(BenchOptions o, Tokenizer tok, RandomGenerator rng, PrintStream log) {
        Path file = ShareGptFile.locate(o.datasetPath());
        if (file == null)
            throw new BenchException("--dataset-name sharegpt needs the ShareGPT file: give --dataset-path, or download "
                    + ShareGptFile.URL + " to ~/.cache/kiln/");
        if (o.applyChatTemplate())
            throw new BenchException("--apply-chat-template needs chat templates in kiln.tokenizer, which it does not offer yet");
        List<ShareGptFile.Pair> pairs = new ArrayList<>(ShareGptFile.read(file));
        Collections.shuffle(pairs, rng);
        List<DatasetRow> rows = new ArrayList<>();
        for (ShareGptFile.Pair pair : pairs) {
            if (rows.size() == o.numPrompts()) break;
            int promptLen = tok.encode(pair.prompt(), true).length;
            int outputLen = o.sharegptOutputLen() != null ? o.sharegptOutputLen() : tok.encode(pair.completion(), true).length;
            if (promptLen < 2 || outputLen < 2) continue;
            Integer ctx = o.sharegptContextLen();
            if (ctx != null && ctx > 0 && promptLen + outputLen > ctx) continue;
            rows.add(new DatasetRow(new Prompt.Text(pair.prompt()), promptLen, outputLen));
        }
        if (rows.isEmpty()) throw new BenchException(file + " gave no usable prompts");
        log.println("#Input tokens: " + rows.stream().mapToLong(DatasetRow::promptLen).sum());
        log.println("#Output tokens: " + rows.stream().mapToLong(DatasetRow::outputLen).sum());
        return rows;
    }

    /**
     * {@code generated-shared-prefix}: {@code --gsp-num-groups} random system prompts, each followed by
     * {@code --gsp-prompts-per-group} random questions ("system\n\nquestion"), shuffled. Requests of a group share
     * their long prefix: this is the workload that shows prefix reuse. {@code --num-prompts} does not apply.
     */
    static List<DatasetRow> sharedPrefix(BenchOptions o, Tokenizer tok, RandomGenerator rng, PrintStream log) {
        int groups = o.gspNumGroups(), perGroup = o.gspPromptsPerGroup();
        if (groups < 1 || perGroup < 1) throw new IllegalArgumentException("--gsp-num-groups and --gsp-prompts-per-group must be at least 1");
        double r = o.gspRangeRatio();
        int[] systemLens = Lengths.sample(o.gspSystemPromptLen(), r, groups, rng);
        int[] questionLens = Lengths.sample(o.gspQuestionLen(), r, groups * perGroup, rng);
        int[] outputLens = Lengths.sample(o.gspOutputLen(), r, groups * perGroup, rng);
        int vocab = tok.vocabSize();
        List<DatasetRow> rows = new ArrayList<>(groups * perGroup);
        long totalIn = 0, totalOut = 0;
        for (int g = 0; g < groups; g++) {
            String system = randomText(tok, systemLens[g], vocab, rng);
            for (int q = 0; q < perGroup; q++) {
                int k = g * perGroup + q;
                String full = system + "\n\n" + randomText(tok, questionLens[k], vocab, rng);
                int len = tok.encode(full, true).length;
                rows.add(new DatasetRow(new Prompt.Text(full), len, outputLens[k]));
                totalIn += len;
                totalOut += outputLens[k];
            }
        }
        Collections.shuffle(rows, rng);
        log.println("Generated shared prefix dataset: " + groups + " groups x " + perGroup + " prompts, "
                + totalIn + " input tokens, " + totalOut + " output tokens");
        return rows;
    }

    private static String randomText(Tokenizer tok, int len, int vocab, RandomGenerator rng) {
        int[] ids = new int[len];
        for (int i = 0; i < len; i++) ids[i] = rng.nextInt(vocab);
        return tok.decode(ids, false);
    }
}
