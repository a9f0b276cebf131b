package kiln.engine;

import kiln.grammar.CompiledGrammar;

/**
 * Structured output: the sample's text must follow {@code grammar} (compiled against the model's vocabulary), from
 * its first token or, with {@code startAfterToken} >= 0, from the token after the first sampled {@code
 * startAfterToken} (DeepSeek-R1's {@code </think>}: the model reasons freely, then answers under the grammar).
 * {@code kind} names what the grammar came from, for logs ("json_schema", "regex", ...).
 */
public record Constraint(CompiledGrammar grammar, String kind, int startAfterToken) {
    public static Constraint of(CompiledGrammar grammar, String kind) {
        return new Constraint(grammar, kind, -1);
    }

    public Constraint afterToken(int token) {
        return new Constraint(grammar, kind, token);
    }

    @Override
    public String toString() {
        return kind + (startAfterToken >= 0 ? " after token " + startAfterToken : "");
    }
}
