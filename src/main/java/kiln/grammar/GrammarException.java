package kiln.grammar;

/**
 * A JSON schema, regular expression or grammar that Kiln cannot constrain decoding to. The message names the
 * problem and where it is (a JSON pointer, an offset, a line and column or a rule name), phrased for an API error:
 * the server answers it as a 400.
 */
public final class GrammarException extends IllegalArgumentException {
    public GrammarException(String message) {
        super(message);
    }
}
