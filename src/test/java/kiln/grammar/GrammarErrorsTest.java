package kiln.grammar;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static kiln.grammar.GrammarTesting.COMPILER;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Invalid or unsupported schemas, regexes and grammars are refused with a message that names the problem and where. */
class GrammarErrorsTest {
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '`', textBlock = """
            {"type": "object",                                  | json_schema: not valid JSON
            false                                               | json_schema at #: the schema 'false' admits no value
            {"type": "strin"}                                   | json_schema at #/type: unknown type 'strin'
            {"properties": {"a": {"type": 3}}}                  | json_schema at #/properties/a/type: 'type' must be a string
            {"properties": {"a": {"type": "integer", "minimum": 5, "maximum": 1}}} | json_schema at #/properties/a: no integer lies within the bounds
            {"type": "number", "exclusiveMinimum": 1, "maximum": 1} | json_schema at #: no number lies within the bounds
            {"$ref": "#/$defs/missing"}                         | json_schema at #/$ref: '#/$defs/missing' points to nothing in the schema
            {"$ref": "https://example.com/s.json"}              | json_schema at #/$ref: only local references ('#/...') are supported
            {"not": {"type": "string"}}                         | json_schema at #: 'not' is not supported in structured output
            {"type": "array", "uniqueItems": true}              | json_schema at #/uniqueItems: 'uniqueItems: true' is not supported
            {"properties": {"zip": {"type": "string", "pattern": "(a"}}} | json_schema at #/properties/zip/pattern: regex at offset 0: unclosed '('
            {"type": "array", "minItems": 3, "maxItems": 1}     | json_schema at #: minItems 3 is above the most items the array can hold (1)
            {"type": "string", "minLength": 5, "maxLength": 2}  | json_schema at #: minLength 5 is above maxLength 2
            {"type": "number", "multipleOf": 0.5}               | json_schema at #/multipleOf: 'multipleOf' is not supported
            {"multipleOf": 2}                                   | json_schema at #/multipleOf: 'multipleOf' is not supported
            {"type": "string", "multipleOf": 3}                 | json_schema at #/multipleOf: 'multipleOf' is not supported
            {"type": "integer", "enum": [2, 4], "multipleOf": 2} | json_schema at #/multipleOf: 'multipleOf' is not supported
            {"const": 10, "multipleOf": 5}                      | json_schema at #/multipleOf: 'multipleOf' is not supported
            {"anyOf": [{"type": "integer"}], "multipleOf": 2}   | json_schema at #/multipleOf: 'multipleOf' is not supported
            {"type": "integer", "multipleOf": 0}                | json_schema at #/multipleOf: 'multipleOf' is not supported
            {"properties": {"n": {"type": "integer", "minimum": 0, "maximum": 100, "multipleOf": 10}}} | json_schema at #/properties/n/multipleOf: 'multipleOf' is not supported
            {"type": "array", "items": {"multipleOf": 0.01}}    | json_schema at #/items/multipleOf: 'multipleOf' is not supported
            {"type": "integer", "multipleOf": "2"}              | json_schema at #/multipleOf: 'multipleOf' must be a number
            {"const": 1.5, "multipleOf": 1}                     | json_schema at #/const: the 'const' value does not satisfy the schema: 1.5 is not a multiple of 'multipleOf' 1
            {"enum": [0.5, 2.5], "multipleOf": 1}               | json_schema at #/enum: no value of 'enum' satisfies the schema: 0.5 is not a multiple of 'multipleOf' 1; 2.5 is not
            {"type": "object", "properties": {"a": {}}, "required": ["x"], "additionalProperties": false} | json_schema at #/required: required property 'x' is not among the properties
            {"allOf": [{"type": "string"}, {"maxLength": 3}]}   | json_schema at #/allOf: 'allOf' with more than one schema is not supported
            {"type": "object", "anyOf": [{}], "properties": {}} | json_schema at #: 'anyOf' next to 'properties' is not supported
            {"$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}, "required": ["next"]}}, "$ref": "#/$defs/n"} | json_schema: rule '#/$defs/n' can never be completed
            {"type": "array", "maxItems": "3"}                  | json_schema at #/maxItems: 'maxItems' must be a non-negative integer
            {"enum": []}                                        | json_schema at #/enum: 'enum' must be a non-empty array
            {"type": "string", "const": 1}                      | json_schema at #/const: the 'const' value does not satisfy the schema: 1 is not of the declared type [string]
            {"type": "integer", "enum": ["a", "b"]}             | json_schema at #/enum: no value of 'enum' satisfies the schema: "a" is not of the declared type [integer]; "b"
            {"enum": [1, 2], "minimum": 3}                      | json_schema at #/enum: no value of 'enum' satisfies the schema: 1 is below 'minimum' 3; 2 is below 'minimum' 3
            {"const": "abc", "maxLength": 2}                    | json_schema at #/const: the 'const' value does not satisfy the schema: "abc" is longer than 'maxLength' 2
            {"const": 5, "enum": [1, 2]}                        | json_schema at #/const: the 'const' value does not satisfy the schema: 5 is not among the 'enum' values
            {"enum": [{"a": 1}], "required": ["b"]}             | no value of 'enum' satisfies the schema: {"a":1} lacks the 'required' property 'b'
            {"enum": [{"a": 1}], "properties": {"a": {"type": "string"}}} | no value of 'enum' satisfies the schema: 1 at /a is not of the declared type [string]
            {"enum": [[1, 2], [3]], "minItems": 3}              | no value of 'enum' satisfies the schema: [1,2] has fewer items than 'minItems' 3
            {"enum": [1, 2, 3, 4, 5], "maximum": 0}             | 3 is above 'maximum' 0; and 2 more
            {"enum": ["a"], "pattern": "(?=a)a"}                | json_schema at #/pattern: regex at offset 1: lookahead and lookbehind are not supported
            {"enum": [[1]], "unevaluatedItems": false}          | json_schema at #/unevaluatedItems: 'unevaluatedItems' is not supported in structured output
            {"enum": [{"a": 1}], "allOf": [{}], "unevaluatedProperties": false} | json_schema at #/unevaluatedProperties: 'unevaluatedProperties' beside 'enum' or 'const' and a combinator
            {"enum": [1], "contains": {}}                       | json_schema at #: 'contains' is not supported in structured output
            {"type": "array", "unevaluatedItems": false}        | json_schema at #/unevaluatedItems: 'unevaluatedItems' is not supported in structured output
            {"type": "object", "unevaluatedProperties": {"type": "string"}} | json_schema at #/unevaluatedProperties: 'unevaluatedProperties' with a schema is not supported
            {"type": "array", "minContains": 1}                 | json_schema at #: 'minContains' is not supported in structured output
            {"enum": [1], "anyOf": [{"not": {}}]}               | json_schema at #/anyOf/0: 'not' is not supported in structured output
            {"enum": ["a"], "type": "strng"}                    | json_schema at #/type: unknown type 'strng'
            {"type": "string", "maxLength": 1000000}            | is too large to compile
            {"properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$", "maxLength": 3}}} | json_schema: rule '#/properties/zip' can never be completed (it matches no text at all
            """)
    void jsonSchemas(String schema, String message) {
        assertMessage(() -> COMPILER.jsonSchema(schema), message);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '`', textBlock = """
            (a          | regex at offset 0: unclosed '('
            a)          | regex at offset 1: unbalanced ')'
            a**         | regex at offset 2: a quantifier cannot follow a quantifier
            (?=a)b      | regex at offset 1: lookahead and lookbehind are not supported
            (a)\\1      | regex at offset 3: backreferences and octal escapes (\\1) are not supported
            [z-a]       | regex at offset 2: range out of order
            a{3,1}      | regex at offset 1: repetition {3,1} has its maximum below its minimum
            \\bword     | regex at offset 0: anchors and word boundaries (\\b) are not supported
            a^b         | regex at offset 1: anchors are only supported at the start and the end of the pattern
            [abc        | regex at offset 0: unclosed '['
            \\p{Foo}    | regex at offset 7: unknown Unicode category \\p{Foo}
            x{100001}   | regex at offset 7: repetition count over 100000
            (?i)abc     | regex at offset 1: inline flags and special groups '(?i' are not supported
            *a          | regex at offset 0: nothing to repeat before '*'
            a++         | regex at offset 2: possessive quantifiers are not supported
            [a-z&&[aeiou]] | regex at offset 4: class intersection '&&' is not supported
            """)
    void regexes(String pattern, String message) {
        assertMessage(() -> COMPILER.regex(pattern.replace("\\\\", "\\")), message.replace("\\\\", "\\"));
    }

    @ParameterizedTest(name = "{1}")
    @CsvSource(delimiter = '|', quoteCharacter = '`', textBlock = """
            ``                                          | ebnf: the grammar is empty
            root ::= foo                                | ebnf at line 1, column 10: rule 'foo' is not defined
            expr ::= "x"                                | ebnf: the grammar has no 'root' rule
            `root ::= expr\\nexpr ::= expr "+" term | term\\nterm ::= [0-9]` | ebnf: rule 'expr' is left-recursive (expr -> expr)
            root ::= "abc                               | ebnf at line 1, column 10: unterminated string
            root ::= [a-                                | ebnf at line 1, column 10: unclosed '['
            root ::= ("a"                               | ebnf at line 1, column 10: unclosed '('
            root ::= "a"\\nroot ::= "b"                 | ebnf at line 2, column 1: rule 'root' is defined twice
            root ::= a\\na ::= "x" a                    | ebnf: rule 'a' can never be completed
            root ::= "\\q"                              | ebnf at line 1, column 11: unknown escape \\q
            root ::= (= "a")                            | ebnf at line 1, column 11: lookahead assertions '(= ...)' are not supported
            root ::= "a"{3,1}                           | ebnf at line 1, column 13: repetition {3,1} has its maximum below its minimum
            root := "a"                                 | ebnf at line 1, column 6: expected '::=' after rule name 'root'
            root ::= <think> "x"                        | ebnf at line 1, column 10: token references ('<[id]>', '<token>', '!<...>') are not supported
            root ::= [^\\x00-\\U0010FFFF]               | ebnf at line 1, column 10: the character class matches no character
            """)
    void ebnf(String grammar, String message) {
        String g = grammar.replace("\\n", "\n");
        assertMessage(() -> COMPILER.ebnf(g), message.replace("\\\\", "\\"));
    }

    private static void assertMessage(org.junit.jupiter.api.function.Executable compile, String expected) {
        GrammarException e = assertThrows(GrammarException.class, compile);
        assertTrue(e.getMessage().contains(expected), "message '" + e.getMessage() + "' should contain '" + expected + "'");
    }
}
