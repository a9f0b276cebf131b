package kiln.grammar;

import kiln.tokenizer.Tokenizer;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * Compiles JSON schemas, regular expressions and EBNF grammars against one tokenizer's vocabulary, and keeps the
 * recent results: a schema sent again (every request of a structured-output client sends the same one) costs a
 * map lookup, and a new schema reuses the token tables of the rules it shares with earlier ones ({@link RuleTables}:
 * the JSON string, number and any-value rules above all). Thread-safe; concurrent requests for the same text
 * compile it once and share the result.
 *
 * <pre>
 * GrammarCompiler compiler = GrammarCompiler.of(tokenizer, modelVocabSize);   // once per model
 * CompiledGrammar g = compiler.jsonSchema(schemaText);                        // per request, usually cached
 * GrammarMatcher m = g.newMatcher();                                          // per request (per sample)
 * long[] mask = new long[g.maskWords()];
 * m.fillMask(mask);  ... sample under the mask ...  m.accept(token);  ... until m.isTerminated()
 * </pre>
 *
 * Every method that takes text throws {@link GrammarException} when it is invalid or unsupported.
 */
public final class GrammarCompiler {
    /** Compiled grammars kept per compiler, least recently used dropped first. */
    static final int CACHE_ENTRIES = 256;

    /**
     * The longest run of whitespace that JSON output may put between two tokens (the idea of XGrammar's
     * max_whitespace_cnt, which SGLang leaves unlimited and exposes no flag for). Unlimited, a model that puts a
     * little weight on whitespace can spend its whole max_tokens on it, since some is allowed after every token;
     * capped, it must go on after 32 characters, which still hold a newline and the indent of pretty-printed JSON
     * seven levels deep at four spaces a level. The counting states form one rule that all grammars share, so the
     * cap costs compilation next to nothing; masks after a token that ends inside a run cost more (docs/grammar.md).
     */
    public static final int MAX_WHITESPACE_RUN = 32;

    private static final Map<Tokenizer, Map<Integer, GrammarCompiler>> COMPILERS = new WeakHashMap<>();

    private final Vocabulary vocab;
    /** Token tables of rules seen in earlier grammars (the JSON string rule above all). */
    final RuleTables ruleTables = new RuleTables();
    private final Map<Key, CompletableFuture<CompiledGrammar>> cache = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Key, CompletableFuture<CompiledGrammar>> e) {
            return size() > CACHE_ENTRIES;
        }
    };

    private record Key(String kind, String text) {}

    GrammarCompiler(Vocabulary vocab) {
        this.vocab = vocab;
    }

    /**
     * The compiler for {@code tokenizer} with masks of {@code vocabSize} bits (the model's vocabulary, at least the
     * tokenizer's); one per pair, built on first use (the vocabulary trie: about 100 ms for DeepSeek's).
     */
    public static GrammarCompiler of(Tokenizer tokenizer, int vocabSize) {
        synchronized (COMPILERS) {
            return COMPILERS.computeIfAbsent(tokenizer, t -> new java.util.HashMap<>())
                    .computeIfAbsent(vocabSize, n -> new GrammarCompiler(Vocabulary.of(tokenizer, n)));
        }
    }

    /**
     * Output that is one JSON value valid under {@code schema} (OpenAI's {@code response_format} json_schema,
     * SGLang's {@code json_schema}); the supported subset is in docs/grammar.md.
     */
    public CompiledGrammar jsonSchema(String schema) {
        return jsonSchema(schema, true);
    }

    /**
     * As {@link #jsonSchema(String)}: {@code anyWhitespace} true allows runs of whitespace up to
     * {@link #MAX_WHITESPACE_RUN} between tokens, false none (compact JSON).
     */
    public CompiledGrammar jsonSchema(String schema, boolean anyWhitespace) {
        return cached(anyWhitespace ? "json_schema" : "json_schema compact", schema, () -> JsonSchemaGrammar.fromSchema(schema, whitespace(anyWhitespace)));
    }

    /** Output that is one JSON object, any keys and values (OpenAI's {@code response_format} json_object). */
    public CompiledGrammar jsonObject() {
        return jsonObject(true);
    }

    /** As {@link #jsonObject()}; {@code anyWhitespace} false: compact JSON. */
    public CompiledGrammar jsonObject(boolean anyWhitespace) {
        return cached(anyWhitespace ? "json_object" : "json_object compact", "", () -> JsonSchemaGrammar.anyObject(whitespace(anyWhitespace)));
    }

    /** Output that matches {@code pattern} as a whole (SGLang's {@code regex}). */
    public CompiledGrammar regex(String pattern) {
        return cached("regex", pattern, () -> RegexParser.grammar(pattern));
    }

    /** Output that the grammar's {@code root} rule matches (SGLang's {@code ebnf}, GBNF dialect). */
    public CompiledGrammar ebnf(String grammar) {
        return cached("ebnf", grammar, () -> EbnfParser.parse(grammar, "root"));
    }

    /** One alternative of {@link #taggedJson}: fixed text, a JSON value valid under {@code schema}, fixed text. */
    public record Tagged(String begin, String schema, String end) {}

    /**
     * Output that is {@code open}, then {@code min} to {@code max} items ({@code max} -1: no limit) separated by
     * {@code separator}, each one of the alternatives, then {@code close}: tool calls in a model's format (markers
     * around a function's name, its arguments under the tool's parameter schema). Cached like the others;
     * {@code anyWhitespace} as in {@link #jsonSchema(String, boolean)}.
     */
    public CompiledGrammar taggedJson(String open, java.util.List<Tagged> alternatives, String separator, int min, int max, String close,
                                      boolean anyWhitespace) {
        StringBuilder key = new StringBuilder().append(anyWhitespace).append('\0').append(open).append('\0').append(separator).append('\0').append(min).append('\0')
                .append(max).append('\0').append(close);
        for (Tagged t : alternatives) key.append('\0').append(t.begin()).append('\0').append(t.schema()).append('\0').append(t.end());
        return cached("tagged_json", key.toString(), () -> TaggedJson.grammar(open, alternatives, separator, min, max, close, whitespace(anyWhitespace)));
    }

    private static int whitespace(boolean anyWhitespace) {
        return anyWhitespace ? MAX_WHITESPACE_RUN : 0;
    }

    /** Compiles a grammar built in code; not cached (its rules' token tables are shared as usual). */
    public CompiledGrammar compile(Grammar grammar) {
        return CompiledGrammar.compile(grammar, vocab, ruleTables);
    }

    /** Compiles with the given rule tables (null: none shared), bypassing every cache: for measurements. */
    CompiledGrammar compile(Grammar grammar, RuleTables shared) {
        return CompiledGrammar.compile(grammar, vocab, shared);
    }

    private CompiledGrammar cached(String kind, String text, java.util.function.Supplier<Grammar> parse) {
        Key key = new Key(kind, text);
        CompletableFuture<CompiledGrammar> mine = new CompletableFuture<>();
        CompletableFuture<CompiledGrammar> f;
        synchronized (cache) {
            f = cache.putIfAbsent(key, mine);
        }
        if (f == null) {
            try {
                mine.complete(CompiledGrammar.compile(parse.get(), vocab, ruleTables));
            } catch (RuntimeException | Error e) {
                synchronized (cache) {
                    cache.remove(key, mine);
                }
                mine.completeExceptionally(e);
                throw e;
            }
            f = mine;
        }
        try {
            return f.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw e;
        }
    }

    /** Grammars in the cache. */
    public int cachedGrammars() {
        synchronized (cache) {
            return cache.size();
        }
    }
}
