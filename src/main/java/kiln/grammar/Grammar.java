package kiln.grammar;

import java.util.ArrayDeque;
import java.util.Collections;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Named rules over {@link Expr}, and the rule a whole output must match: the one representation that JSON schemas
 * ({@link JsonSchemaGrammar}), regular expressions ({@link RegexParser}) and EBNF ({@link EbnfParser}) compile to.
 * Rules may refer to each other recursively, but not left-recursively (checked when compiled).
 *
 * @param source what the grammar was made from, for error messages ("json_schema", "regex", "ebnf")
 */
public record Grammar(Map<String, Expr> rules, String root, String source) {
    public Grammar {
        rules = Collections.unmodifiableMap(new LinkedHashMap<>(rules));
        if (!rules.containsKey(root)) throw new GrammarException(source + ": the grammar has no rule named '" + root + "'");
        checkReferences(rules, source);
    }

    private static void checkReferences(Map<String, Expr> rules, String source) {
        for (var rule : rules.entrySet()) {
            Deque<Expr> todo = new ArrayDeque<>();
            todo.push(rule.getValue());
            while (!todo.isEmpty()) {
                switch (todo.pop()) {
                    case Expr.Ref r -> {
                        if (!rules.containsKey(r.rule())) {
                            throw new GrammarException(source + ": rule '" + rule.getKey() + "' refers to rule '" + r.rule() + "', which is not defined");
                        }
                    }
                    case Expr.Seq s -> s.items().forEach(todo::push);
                    case Expr.Alt a -> a.options().forEach(todo::push);
                    case Expr.Repeat r -> todo.push(r.body());
                    case Expr.Members m -> {
                        m.items().forEach(todo::push);
                        todo.push(m.separator());
                    }
                    case Expr.Intersect i -> {
                        todo.push(i.a());
                        todo.push(i.b());
                    }
                    case Expr.Literal l -> {}
                    case Expr.Chars c -> {}
                }
            }
        }
    }
}
