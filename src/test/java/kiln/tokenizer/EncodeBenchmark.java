package kiln.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Encoding speed of a ~3,200-token prompt with the bundled DeepSeek tokenizer, on one thread. Two prompts: "prose"
 * (English text, what chat prompts mostly are) and "corpus" (the reference corpus: many scripts, code, random
 * Unicode). "warm" encodes the same prompt again (the BPE word cache knows its words); "cold" clears the cache
 * before every call. Run (see docs/performance.md):
 * {@code java -cp target/test-classes:target/classes:$(cat target/test-classpath) org.openjdk.jmh.Main EncodeBenchmark}
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgs = {"-Xmx2g"})
public class EncodeBenchmark {
    @Param({"prose", "corpus"})
    public String prompt;

    HfTokenizer tokenizer;
    String text;
    int tokens;

    @Setup(Level.Trial)
    public void setUp() {
        tokenizer = (HfTokenizer) Tokenizers.bundled();
        text = prompt.equals("prose") ? prose(tokenizer, 3200) : corpus(tokenizer, 3200);
        tokens = tokenizer.encode(text, false).length;
        System.out.printf("%n%s prompt: %d tokens, %d chars%n", prompt, tokens, text.length());
    }

    /** English prose: a few paragraphs in rotation, to about {@code target} tokens. */
    static String prose(Tokenizer tok, int target) {
        String[] paragraphs = {
            "The quick brown fox jumps over the lazy dog. ",
            "In the beginning of the twentieth century, the city grew rapidly as new factories opened along the river, drawing workers from the surrounding countryside. ",
            "Please summarize the following report and list three risks the authors did not consider, with a short explanation for each. ",
            "Large language models are trained on vast amounts of text; serving them efficiently requires batching requests, caching attention keys and values, and careful memory management. ",
            "She said, \"I'll be there at 5:30 p.m. on Tuesday, March 3rd, 2026 — unless the train is late again.\" ",
        };
        StringBuilder sb = new StringBuilder();
        for (int i = 0; tok.encode(sb.toString(), false).length < target; i++) sb.append(paragraphs[i % paragraphs.length]).append(i % 7 == 6 ? "\n\n" : "");
        return sb.toString();
    }

    /** Rows of the reference corpus, in order, to about {@code target} tokens. */
    static String corpus(Tokenizer tok, int target) {
        JsonNode rows = Reference.json(Path.of("testdata", "fixtures", "deepseek-tokenizer", "corpus.json"));
        StringBuilder sb = new StringBuilder();
        for (JsonNode r : rows) {
            sb.append(r.asText()).append('\n');
            if (tok.encode(sb.toString(), false).length >= target) break;
        }
        return sb.toString();
    }

    @Benchmark
    public int[] warm() {
        return tokenizer.encode(text, false);
    }

    @State(Scope.Thread)
    public static class Cold {
        @Setup(Level.Invocation)
        public void clear(EncodeBenchmark b) {
            b.tokenizer.clearCache();
        }
    }

    @Benchmark
    public int[] cold(Cold c) {
        return tokenizer.encode(text, false);
    }
}
