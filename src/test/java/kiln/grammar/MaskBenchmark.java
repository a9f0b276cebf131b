package kiln.grammar;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import kiln.tokenizer.Tokenizer;
import kiln.tokenizer.Tokenizers;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.runner.IterationType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * Token masks at DeepSeek's vocabulary (129,280 bits) for real schemas, replaying a realistic output of each
 * (testdata/grammar/mask-benchmark.json) token by token as decoding would: a fresh matcher per document, one mask
 * before every token and one after the last (where the end token must be allowed), each followed by the token's
 * accept. The compiled grammar is shared across replays, as the compiler's cache shares it across requests; the
 * matcher's memo starts empty each time.
 *
 * <ul>
 *   <li>{@code replay}: time per document (JMH); every mask's own time is recorded too (System.nanoTime around
 *       fillMask, its ~20 ns included) and the mean, median, p99 and maximum over all measured masks are printed
 *       at the end of the trial and appended to target/grammar-mask-bench.tsv.</li>
 *   <li>{@code compile}: schema text to first mask for a schema the server has not seen (the compiled-grammar
 *       cache bypassed): parse, automaton, every state's token table, a matcher, its first mask. The rule tables
 *       shared between grammars ({@link RuleTables}) hold what any earlier JSON schema leaves there, the builtin
 *       string, number and any-value rules; each call starts from a copy of that state.</li>
 *   <li>{@code compileCold}: the same with no shared rule tables at all (the first schema a server compiles).
 *       The first compilation of the fork, in a cold JVM and with no shared tables, is printed and written to the
 *       TSV as well.</li>
 * </ul>
 *
 * Run (see docs/performance.md):
 * {@code java -cp target/test-classes:target/classes:$(cat target/test-classpath) org.openjdk.jmh.Main MaskBenchmark}
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgs = {"-Xmx3g"})
public class MaskBenchmark {
    @Param({"openai-weather-function", "function-search-flights", "openai-math-reasoning", "openai-ui-recursive", "nested-company",
            "tool-calls-array", "array-of-enums", "openai-research-paper", "json_object"})
    public String schema;

    static final int VOCAB = 129_280;

    GrammarCompiler compiler;
    String schemaText;
    CompiledGrammar compiled;
    int[] tokens;
    long[] mask;
    long firstCompileNanos;
    /** Rule tables as a server has them after any JSON schema: the builtin rules in all their usual contexts. */
    RuleTables builtins;
    static final String BUILTINS_SCHEMA = "{\"type\": \"object\", \"properties\": {\"any\": {}, \"int\": {\"type\": \"integer\"}, "
            + "\"num\": {\"type\": \"number\"}, \"str\": {\"type\": \"string\"}, \"arr\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}}}";

    int[] maskNanos = new int[1 << 22];
    int samples;
    long[] kept = new long[0];

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        ObjectMapper json = new ObjectMapper();
        Tokenizer tok = Tokenizers.bundled();
        compiler = GrammarCompiler.of(tok, VOCAB);
        String document = null;
        for (JsonNode d : json.readTree(Path.of("testdata", "grammar", "mask-benchmark.json").toFile())) {
            if (d.get("name").asText().equals(schema)) document = d.get("document").asText();
        }
        for (JsonNode c : json.readTree(Path.of("testdata", "grammar", "json-schemas.json").toFile())) {
            if (c.get("name").asText().equals(schema)) schemaText = c.get("schema").toString();
        }
        if (document == null || (schemaText == null && !schema.equals("json_object"))) throw new IllegalArgumentException("unknown schema " + schema);
        mask = new long[(VOCAB + 63) / 64];
        long t0 = System.nanoTime();
        compiled = compileUncached(null);
        compiled.newMatcher().fillMask(mask);
        firstCompileNanos = System.nanoTime() - t0;
        builtins = new RuleTables();
        compiler.compile(JsonSchemaGrammar.fromSchema(BUILTINS_SCHEMA), builtins);
        tokens = tok.encode(document, false);
        GrammarMatcher m = compiled.newMatcher();
        for (int t : tokens) if (!m.accept(t)) throw new IllegalStateException(schema + ": the benchmark document is refused at '" + tok.tokenText(t) + "'");
        if (!m.canTerminate()) throw new IllegalStateException(schema + ": the benchmark document is incomplete");
        System.out.printf("%n%s: %d tokens, %d automaton states, %d KiB of token tables, first compilation in this JVM %.1f ms%n",
                schema, tokens.length, compiled.states(), compiled.tableBytes() / 1024, firstCompileNanos / 1e6);
    }

    private CompiledGrammar compileUncached(RuleTables shared) {
        return compiler.compile(schema.equals("json_object") ? JsonSchemaGrammar.anyObject() : JsonSchemaGrammar.fromSchema(schemaText), shared);
    }

    @Benchmark
    public long replay() {
        GrammarMatcher m = compiled.newMatcher();
        long[] mk = mask;
        for (int t : tokens) {
            long a = System.nanoTime();
            m.fillMask(mk);
            record(System.nanoTime() - a);
            if (!m.accept(t)) throw new IllegalStateException("refused");
        }
        long a = System.nanoTime();
        m.fillMask(mk);
        record(System.nanoTime() - a);
        return mk[0];
    }

    private void record(long nanos) {
        if (samples < maskNanos.length) maskNanos[samples++] = (int) Math.min(nanos, Integer.MAX_VALUE);
    }

    @Benchmark
    public long compile() {
        CompiledGrammar g = compileUncached(builtins.copy());
        g.newMatcher().fillMask(mask);
        return mask[0];
    }

    @Benchmark
    public long compileCold() {
        CompiledGrammar g = compileUncached(null);
        g.newMatcher().fillMask(mask);
        return mask[0];
    }

    @TearDown(Level.Iteration)
    public void iterationDone(IterationParams p) {
        if (p.getType() == IterationType.MEASUREMENT && samples > 0) {
            int from = kept.length;
            kept = Arrays.copyOf(kept, from + samples);
            for (int i = 0; i < samples; i++) kept[from + i] = maskNanos[i];
        }
        samples = 0;
    }

    @TearDown(Level.Trial)
    public void report() throws IOException {
        String line;
        if (kept.length == 0) {
            line = String.format("%s\tcompile\tfirst %.2f ms", schema, firstCompileNanos / 1e6);
        } else {
            long[] s = kept.clone();
            Arrays.sort(s);
            double mean = Arrays.stream(s).average().orElse(0) / 1e3;
            line = String.format("%s\t%d tokens\t%d masks\tmean %.2f us\tp50 %.2f us\tp99 %.2f us\tmax %.1f us\tfirst compile %.2f ms",
                    schema, tokens.length, s.length, mean, s[s.length / 2] / 1e3, s[(int) (s.length * 0.99)] / 1e3, s[s.length - 1] / 1e3,
                    firstCompileNanos / 1e6);
        }
        System.out.println("\n" + line);
        Path out = Path.of("target", "grammar-mask-bench.tsv");
        Files.writeString(out, line + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        kept = new long[0];
    }
}
