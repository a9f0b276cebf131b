package kiln.grammar;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Rule automata are minimal (Hopcroft): the textbook state counts, with rule calls as symbols of their own. */
class DfaTest {
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '#', commentCharacter = '%', textBlock = """
            (a|b)*abb           # 4
            a*                  # 1
            ab|ac               # 3
            (ab|ac)(ab|ac)      # 5
            [0-9]{3}            # 4
            x{0,3}              # 4
            (a|b)*a(a|b)        # 4
            """)
    void minimalStateCounts(String regex, int states) {
        assertEquals(states, Dfa.of(RegexParser.parse(regex, "regex"), name -> 0, "test").size);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '#', commentCharacter = '%', textBlock = """
            root ::= item ("," item)* ; item ::= "x"                          # 2
            root ::= (item "," | other ",")* ; item ::= "x" ; other ::= "y"   # 2
            root ::= item "," other | other "," item ; item ::= "x" ; other ::= "y" # 6
            """)
    void callsAreSymbols(String grammar, int rootStates) {
        Grammar g = EbnfParser.parse(grammar.replace(" ; ", "\n"), "root");
        var ids = new java.util.HashMap<String, Integer>();
        for (String name : g.rules().keySet()) ids.put(name, ids.size());
        assertEquals(rootStates, Dfa.of(g.rules().get("root"), ids::get, "test").size);
    }
}
