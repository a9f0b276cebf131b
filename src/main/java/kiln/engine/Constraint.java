package kiln.engine;

import kiln.grammar.CompiledGrammar;

/**
 * Structured output: the sample's text must follow {@code grammar} (compiled against the model's vocabulary), from
 * its first token or, with {@code startAfter} set, from the token after the one that completes the first
 * occurrence of that text in the output (DeepSeek-R1's {@code </think>}: the model reasons freely, then answers
 * under the grammar). The text is matched on the output's bytes, so it may span tokens (a tokenizer without a
 * {@code </think>} token writes it in pieces); text the completing token carries beyond it is outside the grammar.
 * {@code kind} names what the grammar came from, for logs and errors ("json_schema", "regex", ...).
 */
public record Constraint(CompiledGrammar grammar, String kind, String startAfter) {
    public Constraint {
        if (startAfter != null && startAfter.isEmpty()) throw new IllegalArgumentException("startAfter is empty (use null)");
    }

    public static Constraint of(CompiledGrammar grammar, String kind) {
        return new Constraint(grammar, kind, null);
    }

    public Constraint after(String text) {
        return new Constraint(grammar, kind, text);
    }

    @Override
    public String toString() {
        return kind + (startAfter != null ? " after " + startAfter : "");
    }
}
