package kiln.grammar;

/**
 * A grammar compiled against one vocabulary: its automaton and, for every automaton state, the token table that
 * decides most of the vocabulary without looking at the stack ({@link StateTokens}). Immutable and thread-safe:
 * one compiled grammar serves every request with the same schema, regex or grammar, each through its own
 * {@link GrammarMatcher}.
 */
public final class CompiledGrammar {
    final Automaton automaton;
    final StateTokens[] tables;
    final Vocabulary vocab;
    private final long compileNanos;

    CompiledGrammar(Automaton automaton, StateTokens[] tables, Vocabulary vocab, long compileNanos) {
        this.automaton = automaton;
        this.tables = tables;
        this.vocab = vocab;
        this.compileNanos = compileNanos;
    }

    static CompiledGrammar compile(Grammar grammar, Vocabulary vocab, RuleTables shared) {
        long t0 = System.nanoTime();
        Automaton a = Automaton.compile(grammar);
        StateTokens[] tables = StateTokens.build(a, vocab, shared);
        return new CompiledGrammar(a, tables, vocab, System.nanoTime() - t0);
    }

    /** A matcher at the start of the output. Cheap: a few small arrays. */
    public GrammarMatcher newMatcher() {
        return new GrammarMatcher(this);
    }

    /** Bits of a mask: the model's vocabulary size. */
    public int vocabSize() {
        return vocab.size;
    }

    /** Longs of a mask: {@code ceil(vocabSize / 64)}. */
    public int maskWords() {
        return vocab.words();
    }

    /** Wall time the compilation took. */
    public long compileNanos() {
        return compileNanos;
    }

    /** Automaton states (each with its token table when it has byte edges). */
    public int states() {
        return automaton.states;
    }

    /** Bytes held by the token tables (the bulk of a compiled grammar's memory), each shared table counted once. */
    public long tableBytes() {
        var seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<TokenTable, Boolean>());
        long b = 0;
        for (StateTokens t : tables) {
            if (t == null) continue;
            b += 16;
            if (seen.add(t.shortTokens())) b += t.shortTokens().bytesUsed();
            if (seen.add(t.longTokens())) b += t.longTokens().bytesUsed();
        }
        return b;
    }

    @Override
    public String toString() {
        return "CompiledGrammar[" + automaton.source + ", " + automaton.states + " states, " + tableBytes() / 1024 + " KiB of tables, compiled in "
                + compileNanos / 1_000_000 + " ms]";
    }
}
