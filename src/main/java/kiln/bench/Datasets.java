package kiln.bench;

import kiln.chat.ChatTemplate;
import kiln.chat.ChatTemplateException;
import kiln.tokenizer.Tokenizer;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.IntUnaryOperator;
import java.util.random.RandomGenerator;

/**
 * The request sets of sglang.bench_serving, built the same way (the random draws differ from numpy's, the
 * distributions do not): {@code random}, {@code random-ids}, {@code sharegpt}, {@code generated-shared-prefix}.
 */
public final class Datasets {
    private Datasets() {}

    public static List<DatasetRow> build(BenchOptions o, Tokenizer tokenizer, PrintStream log, PrintStream warn) {
        RandomGenerator rng = new SplittableRandom(o.seed());
        if (o.applyChatTemplate() && !o.datasetName().equals("sharegpt"))
            warn.println("WARNING --apply-chat-template applies to --dataset-name sharegpt only (as in SGLang); "
                    + o.datasetName() + " prompts are sent as they are");
        return switch (o.datasetName()) {
            case "sharegpt" -> shareGpt(o, tokenizer, rng, log);
            case "random", "random-ids" -> random(o, tokenizer, rng, log, warn);
            case "generated-shared-prefix" -> sharedPrefix(o, tokenizer, rng, log);
            default -> throw new IllegalArgumentException("--dataset-name: unknown dataset " + o.datasetName());
        };
    }

    /**
     * {@code random}: real prompts from a ShareGPT file, tokenized, cut or repeated to each drawn length; sent as
     * text fitted to exactly that many tokens ({@link PromptFitter}), or as ids with {@code --tokenize-prompt}.
     * Without a ShareGPT file it falls back to {@code random-ids} and says so. {@code random-ids}: token ids
     * {@code (offset_i + i + j) % vocab} with a random offset per request (as text: fitted the same way).
     */
    static List<DatasetRow> random(BenchOptions o, Tokenizer tok, RandomGenerator rng, PrintStream log, PrintStream warn) {
        int n = o.numPrompts();
        int[] inputLens = Lengths.sample(o.randomInputLen(), o.randomRangeRatio(), n, rng);
        int[] outputLens = Lengths.sample(o.randomOutputLen(), o.randomRangeRatio(), n, rng);
        boolean text = !o.tokenizePrompt();
        PromptFitter fitter = new PromptFitter(tok);
        List<DatasetRow> rows = new ArrayList<>(n);
        int unfitted = 0;
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
                // the prompt's own tokens, repeated as often as the drawn length needs; BOS comes from the fitter
                int[] source = tok.encode(pair.prompt(), false);
                if (source.length == 0) continue;
                IntUnaryOperator cycle = j -> source[j % source.length];
                DatasetRow row = text ? fitted(fitter.text(cycle, inputLens[i]), outputLens[i])
                        : new DatasetRow(new Prompt.TokenIds(fitter.ids(cycle, inputLens[i])), inputLens[i], outputLens[i]);
                if (row.promptLen() != inputLens[i]) unfitted++;
                rows.add(row);
            }
            if (rows.size() < n) throw new BenchException(file + " has only " + rows.size() + " usable prompts; --num-prompts asks for " + n);
        } else {
            int vocab = tok.vocabSize();
            for (int i = 0; i < n; i++) {
                long offset = rng.nextInt(vocab) + (long) i;
                IntUnaryOperator consecutive = j -> (int) ((offset + j) % vocab);
                DatasetRow row;
                if (text) {
                    row = fitted(fitter.text(consecutive, inputLens[i]), outputLens[i]);
                } else {
                    int[] ids = new int[inputLens[i]];
                    for (int j = 0; j < ids.length; j++) ids[j] = consecutive.applyAsInt(j);
                    row = new DatasetRow(new Prompt.TokenIds(ids), inputLens[i], outputLens[i]);
                }
                if (row.promptLen() != inputLens[i]) unfitted++;
                rows.add(row);
            }
        }
        if (unfitted > 0)
            warn.println("WARNING " + unfitted + " of " + n + " text prompts could not be fitted to their drawn length "
                    + "(their real token counts are used)");
        log.println("#Input tokens: " + rows.stream().mapToLong(DatasetRow::promptLen).sum());
        log.println("#Output tokens: " + Arrays.stream(outputLens).asLongStream().sum());
        return rows;
    }

    private static DatasetRow fitted(PromptFitter.Fitted f, int outputLen) {
        return new DatasetRow(new Prompt.Text(f.text()), f.tokens(), outputLen);
    }

    /**
     * {@code sharegpt}: the first turn of shuffled conversations as prompts, the second turn's token count (or
     * {@code --sharegpt-output-len}) as output length; pairs under 2 tokens, or over {@code --sharegpt-context-len}
     * together, are skipped. With {@code --apply-chat-template} each prompt is first rendered as one user turn with
     * the generation prompt, BOS text removed (the server adds BOS when it encodes), as SGLang does.
     */
    static List<DatasetRow> shareGpt(BenchOptions o, Tokenizer tok, RandomGenerator rng, PrintStream log) {
        Path file = ShareGptFile.locate(o.datasetPath());
        if (file == null)
            throw new BenchException("--dataset-name sharegpt needs the ShareGPT file: give --dataset-path, or download "
                    + ShareGptFile.URL + " to ~/.cache/kiln/");
        ChatTemplate template = o.applyChatTemplate() ? chatTemplate(tok) : null;
        List<ShareGptFile.Pair> pairs = new ArrayList<>(ShareGptFile.read(file));
        Collections.shuffle(pairs, rng);
        List<DatasetRow> rows = new ArrayList<>();
        for (ShareGptFile.Pair pair : pairs) {
            if (rows.size() == o.numPrompts()) break;
            String prompt = template == null ? pair.prompt() : asChat(template, tok, pair.prompt());
            int promptLen = tok.encode(prompt, true).length;
            int outputLen = o.sharegptOutputLen() != null ? o.sharegptOutputLen() : tok.encode(pair.completion(), true).length;
            if (promptLen < 2 || outputLen < 2) continue;
            Integer ctx = o.sharegptContextLen();
            if (ctx != null && ctx > 0 && promptLen + outputLen > ctx) continue;
            rows.add(new DatasetRow(new Prompt.Text(prompt), promptLen, outputLen));
        }
        if (rows.isEmpty()) throw new BenchException(file + " gave no usable prompts");
        log.println("#Input tokens: " + rows.stream().mapToLong(DatasetRow::promptLen).sum());
        log.println("#Output tokens: " + rows.stream().mapToLong(DatasetRow::outputLen).sum());
        return rows;
    }

    private static ChatTemplate chatTemplate(Tokenizer tok) {
        return tok.chatTemplate().orElseThrow(() -> new BenchException("--apply-chat-template: the tokenizer has no chat "
                + "template (neither tokenizer_config.json's chat_template nor chat_template.jinja); give --tokenizer DIR of a chat model"));
    }

    /** A prompt as the single user turn of a conversation, rendered up to the assistant's turn. */
    static String asChat(ChatTemplate template, Tokenizer tok, String prompt) {
        String rendered;
        try {
            rendered = template.render(List.of(Map.of("role", "user", "content", prompt)), null, true);
        } catch (ChatTemplateException e) {
            throw new BenchException("--apply-chat-template: the chat template failed: " + e.getMessage(), e);
        }
        return tok.bosToken().map(bos -> rendered.replace(bos, "")).orElse(rendered);
    }

    /**
     * {@code generated-shared-prefix}: {@code --gsp-num-groups} random system prompts, each followed by
     * {@code --gsp-prompts-per-group} random questions ("system\n\nquestion"), shuffled. Both are random tokens
     * decoded to text and fitted so that the text alone encodes to the drawn number of tokens. Requests of a group
     * share their long prefix: this is the workload that shows prefix reuse. {@code --num-prompts} does not apply.
     */
    static List<DatasetRow> sharedPrefix(BenchOptions o, Tokenizer tok, RandomGenerator rng, PrintStream log) {
        int groups = o.gspNumGroups(), perGroup = o.gspPromptsPerGroup();
        if (groups < 1 || perGroup < 1) throw new IllegalArgumentException("--gsp-num-groups and --gsp-prompts-per-group must be at least 1");
        double r = o.gspRangeRatio();
        int[] systemLens = Lengths.sample(o.gspSystemPromptLen(), r, groups, rng);
        int[] questionLens = Lengths.sample(o.gspQuestionLen(), r, groups * perGroup, rng);
        int[] outputLens = Lengths.sample(o.gspOutputLen(), r, groups * perGroup, rng);
        int vocab = tok.vocabSize();
        PromptFitter fitter = new PromptFitter(tok);
        List<DatasetRow> rows = new ArrayList<>(groups * perGroup);
        long totalIn = 0, totalOut = 0;
        for (int g = 0; g < groups; g++) {
            String system = fitter.content(new RandomIds(rng, vocab), systemLens[g]).text();
            for (int q = 0; q < perGroup; q++) {
                int k = g * perGroup + q;
                String full = system + "\n\n" + fitter.content(new RandomIds(rng, vocab), questionLens[k]).text();
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

    /** Uniform random token ids, drawn as the fitter asks for them (the same index always gives the same id). */
    private static final class RandomIds implements IntUnaryOperator {
        private final RandomGenerator rng;
        private final int vocab;
        private int[] drawn = new int[64];
        private int count;

        RandomIds(RandomGenerator rng, int vocab) {
            this.rng = rng;
            this.vocab = vocab;
        }

        @Override
        public int applyAsInt(int j) {
            while (count <= j) {
                if (count == drawn.length) drawn = Arrays.copyOf(drawn, drawn.length * 2);
                drawn[count++] = rng.nextInt(vocab);
            }
            return drawn[j];
        }
    }
}
