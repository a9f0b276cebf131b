package kiln.grammar;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static kiln.grammar.Expr.lit;
import static kiln.grammar.Expr.ref;
import static kiln.grammar.Expr.seq;

/**
 * JSON values wrapped in fixed text: {@code open}, then items separated by {@code separator}, each one of the
 * alternatives (its begin text, a JSON value valid under its schema, its end text), then {@code close}. A model's
 * tool-call format is such a grammar: markers around a function's name, its arguments as JSON under the tool's
 * parameter schema.
 */
final class TaggedJson {
    private TaggedJson() {}

    static Grammar grammar(String open, List<GrammarCompiler.Tagged> alternatives, String separator, int min, int max, String close,
                           int maxWhitespace) {
        if (alternatives.isEmpty()) throw new GrammarException("tagged JSON: no alternatives");
        if (min < 1 || (max != Expr.UNBOUNDED && max < min)) throw new GrammarException("tagged JSON: bad item count [" + min + ", " + max + "]");
        Map<String, Expr> rules = new LinkedHashMap<>();
        rules.put("root", Expr.EMPTY);
        List<Expr> items = new ArrayList<>();
        for (int i = 0; i < alternatives.size(); i++) {
            GrammarCompiler.Tagged t = alternatives.get(i);
            Grammar g = JsonSchemaGrammar.fromSchema(t.schema(), maxWhitespace);
            // each schema's rules under a prefix of their own: two schemas may define a rule of the same name differently
            String prefix = "t" + i + ".";
            for (var r : g.rules().entrySet()) rules.put(prefix + r.getKey(), renamed(r.getValue(), prefix));
            items.add(seq(lit(t.begin()), ref(prefix + g.root()), lit(t.end())));
        }
        rules.put("item", new Expr.Alt(items));
        Expr more = new Expr.Repeat(seq(lit(separator), ref("item")), min - 1, max == Expr.UNBOUNDED ? Expr.UNBOUNDED : max - 1);
        rules.put("root", seq(lit(open), ref("item"), more, lit(close)));
        return new Grammar(rules, "root", "tagged JSON");
    }

    private static Expr renamed(Expr e, String prefix) {
        return switch (e) {
            case Expr.Ref r -> ref(prefix + r.rule());
            case Expr.Seq s -> new Expr.Seq(s.items().stream().map(x -> renamed(x, prefix)).toList());
            case Expr.Alt a -> new Expr.Alt(a.options().stream().map(x -> renamed(x, prefix)).toList());
            case Expr.Repeat r -> new Expr.Repeat(renamed(r.body(), prefix), r.min(), r.max());
            case Expr.Members m -> new Expr.Members(m.items().stream().map(x -> renamed(x, prefix)).toList(), m.required(),
                    renamed(m.separator(), prefix), m.lastRepeats());
            case Expr.Intersect x -> new Expr.Intersect(renamed(x.a(), prefix), renamed(x.b(), prefix));
            case Expr.Literal l -> l;
            case Expr.Chars c -> c;
        };
    }
}
