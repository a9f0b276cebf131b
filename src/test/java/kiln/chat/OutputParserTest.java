package kiln.chat;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The deepseek-r1 reasoning parser and the deepseekv3 tool-call parser: each sample output parsed whole must give
 * the expected message, and streamed cut at every position (and at every pair of positions, and char by char)
 * must give the same message, with well-formed deltas.
 */
class OutputParserTest {
    static final String CALLS = "<｜tool▁calls▁begin｜>", CALLS_END = "<｜tool▁calls▁end｜>", CALL = "<｜tool▁call▁begin｜>",
            CALL_END = "<｜tool▁call▁end｜>", SEP = "<｜tool▁sep｜>";

    record Sample(String output, String reasoningParser, String toolParser, ParsedOutput expected) {}

    static ToolCall call(int index, String name, String args) {
        return new ToolCall(index, "?", name, args);
    }

    static Sample reasoning(String output, String reasoning, String content) {
        return new Sample(output, "deepseek-r1", null, new ParsedOutput(reasoning, content, List.of()));
    }

    static Sample tools(String output, String reasoningParser, String reasoning, String content, ToolCall... calls) {
        return new Sample(output, reasoningParser, "deepseekv3", new ParsedOutput(reasoning, content, List.of(calls)));
    }

    /** A DeepSeek-V3.1 tool-call sample: no "function" type before the name, no json fence around the arguments. */
    static Sample v31(String output, String reasoningParser, String reasoning, String content, ToolCall... calls) {
        return new Sample(output, reasoningParser, "deepseekv31", new ParsedOutput(reasoning, content, List.of(calls)));
    }

    static final List<Sample> SAMPLES = List.of(
            // R1 after its template's "<think>\n": no opening tag in the output
            reasoning("Let me think.\nStep 1.\n</think>\n\nThe answer is 4.", "Let me think.\nStep 1.", "The answer is 4."),
            reasoning("<think>\nHmm.\n</think>\n\nDone.", "Hmm.", "Done."),
            // </think> never comes: everything is reasoning, a partial tag at the end included
            reasoning("I am still thinking about </thi", "I am still thinking about </thi", ""),
            reasoning("", "", ""),
            reasoning("</think>Answer only", "", "Answer only"),
            reasoning("  <think>x</think>y  ", "x", "y"),
            reasoning("a < b and c </ d\n</think> e <think> f\n", "a < b and c </ d", "e <think> f"),
            reasoning("思考中…\n</think>\n\n答案：四", "思考中…", "答案：四"),
            reasoning("<thin", "<thin", ""),
            tools("Let me check the weather.\n\n" + CALLS + CALL + "function" + SEP + "get_weather\n```json\n{\"city\": \"Paris\"}\n```"
                    + CALL_END + CALLS_END, null, "", "Let me check the weather.", call(0, "get_weather", "{\"city\": \"Paris\"}")),
            tools(CALLS + CALL + "function" + SEP + "search\n```json\n{\"q\": \"use `x` and ```\", \"n\": [1, {}]}\n```" + CALL_END + "\n"
                    + CALL + "function" + SEP + "noop\n```json\n{}\n```" + CALL_END + CALLS_END, null, "", "",
                    call(0, "search", "{\"q\": \"use `x` and ```\", \"n\": [1, {}]}"), call(1, "noop", "{}")),
            tools("Just text with <｜ and ``` inside", null, "", "Just text with <｜ and ``` inside"),
            tools(CALLS + CALL + "function" + SEP + "get_weather\n```json\n{\"city\": \"Par", null, "", "",
                    call(0, "get_weather", "{\"city\": \"Par")),
            tools("Need the weather.\n</think>\n\n" + CALLS + CALL + "function" + SEP + "get_weather\n```json\n{\"city\": \"東京\"}\n```"
                    + CALL_END + CALLS_END, "deepseek-r1", "Need the weather.", "", call(0, "get_weather", "{\"city\": \"東京\"}")),
            tools("Thinking without end " + CALLS, "deepseek-r1", "Thinking without end " + CALLS, ""),
            // DeepSeek-V3.1 (SGLang's deepseekv31_detector examples' shape)
            v31("Let me check.\n\n" + CALLS + CALL + "get_current_weather" + SEP + "{\"location\": \"Tokyo\"}" + CALL_END + CALL
                    + "get_current_weather" + SEP + "{\"location\": \"Paris\"}" + CALL_END + CALLS_END, null, "", "Let me check.",
                    call(0, "get_current_weather", "{\"location\": \"Tokyo\"}"), call(1, "get_current_weather", "{\"location\": \"Paris\"}")),
            v31(CALLS + CALL + " search " + SEP + " \n{\"q\": \"a < b\", \"n\": [1, {}]}\n " + CALL_END + "\n" + CALL + "noop" + SEP + "{}"
                    + CALL_END + CALLS_END + " after", null, "", "after", call(0, "search", "{\"q\": \"a < b\", \"n\": [1, {}]}"), call(1, "noop", "{}")),
            v31(CALLS + CALL + "ping" + CALL_END + CALLS_END, null, "", "", call(0, "ping", "")),
            v31(CALLS + CALL + "get_weather" + SEP + "{\"city\": \"Par", null, "", "", call(0, "get_weather", "{\"city\": \"Par")),
            v31("Plain text with <｜ inside and a function word", null, "", "Plain text with <｜ inside and a function word"),
            // V3's markup under the V3.1 parser: the name is everything before the separator
            v31(CALL + "function" + SEP + "f\n```json\n{}\n```" + CALL_END, null, "", "", call(0, "function", "f\n```json\n{}\n```")),
            v31("Need the weather.\n</think>\n\n" + CALLS + CALL + "get_weather" + SEP + "{\"city\": \"東京\"}" + CALL_END + CALLS_END,
                    "deepseek-r1", "Need the weather.", "", call(0, "get_weather", "{\"city\": \"東京\"}")));

    /** Ids are random; compare them as present or not. */
    static ParsedOutput withoutIds(ParsedOutput p) {
        List<ToolCall> calls = new ArrayList<>();
        for (ToolCall c : p.toolCalls()) {
            assertTrue(c.id().matches("call_[0-9a-f]{24}"), c.id());
            calls.add(new ToolCall(c.index(), "?", c.name(), c.arguments()));
        }
        return new ParsedOutput(p.reasoningContent(), p.content(), calls);
    }

    static List<ChatDelta> stream(Sample s, List<String> pieces) {
        OutputParser parser = new OutputParser(s.reasoningParser(), s.toolParser());
        List<ChatDelta> deltas = new ArrayList<>();
        for (String piece : pieces) deltas.add(parser.feed(piece));
        deltas.add(parser.finish());
        return deltas;
    }

    /** Each call's first delta has id, name and no arguments; later ones only arguments; ids are distinct. */
    static void assertWellFormed(List<ChatDelta> deltas, String label) {
        Set<Integer> started = new HashSet<>();
        Set<String> ids = new HashSet<>();
        for (ChatDelta d : deltas) {
            for (ToolCallDelta c : d.toolCalls()) {
                if (started.add(c.index())) {
                    assertNotNull(c.id(), label);
                    assertNotNull(c.name(), label);
                    assertEquals("", c.arguments(), label);
                    assertTrue(ids.add(c.id()), label + ": repeated id");
                } else {
                    assertNull(c.id(), label);
                    assertNull(c.name(), label);
                    assertTrue(!c.arguments().isEmpty(), label + ": empty arguments delta");
                }
            }
        }
    }

    private static void check(Sample s, List<String> pieces, String label) {
        List<ChatDelta> deltas = stream(s, pieces);
        assertWellFormed(deltas, label);
        assertEquals(s.expected(), withoutIds(OutputParser.collect(deltas)), label);
    }

    @Test
    void wholeOutputsParseAsExpected() {
        for (Sample s : SAMPLES) assertEquals(s.expected(), withoutIds(OutputParser.parse(s.output(), s.reasoningParser(), s.toolParser())), s.output());
    }

    @Test
    void everySingleCutGivesTheSameMessage() {
        for (Sample s : SAMPLES) {
            String o = s.output();
            for (int cut = 0; cut <= o.length(); cut++) check(s, List.of(o.substring(0, cut), o.substring(cut)), o + " cut at " + cut);
        }
    }

    @Test
    void everyPairOfCutsGivesTheSameMessage() {
        for (Sample s : SAMPLES) {
            String o = s.output();
            for (int a = 0; a <= o.length(); a++) {
                for (int b = a; b <= o.length(); b++) {
                    check(s, List.of(o.substring(0, a), o.substring(a, b), o.substring(b)), o + " cut at " + a + ", " + b);
                }
            }
        }
    }

    @Test
    void charByCharAndRandomPiecesGiveTheSameMessage() {
        Random random = new Random(7);
        for (Sample s : SAMPLES) {
            String o = s.output();
            List<String> chars = new ArrayList<>();
            for (int i = 0; i < o.length(); i++) chars.add(o.substring(i, i + 1));
            check(s, chars, o + " char by char");
            for (int trial = 0; trial < 50; trial++) {
                List<String> pieces = new ArrayList<>();
                for (int i = 0; i < o.length(); ) {
                    int n = Math.min(o.length() - i, random.nextInt(6));
                    pieces.add(o.substring(i, i + n));
                    i += n;
                }
                check(s, pieces, o + " random pieces " + pieces);
            }
        }
    }

    @Test
    void argumentsStreamBeforeTheCallEnds() {
        OutputParser p = new OutputParser(null, "deepseekv3");
        assertTrue(p.feed(CALLS + CALL + "function" + SEP + "get_wea").isEmpty());
        ChatDelta named = p.feed("ther\n```json\n{\"ci");
        assertEquals(2, named.toolCalls().size());
        assertEquals("get_weather", named.toolCalls().get(0).name());
        assertEquals("{\"ci", named.toolCalls().get(1).arguments());
        assertEquals("ty\": 1}", p.feed("ty\": 1}\n``").toolCalls().getFirst().arguments()); // the fence is held back
        assertTrue(p.feed("`" + CALL_END).isEmpty());
    }

    @Test
    void deepSeekV31ArgumentsStreamBeforeTheCallEnds() {
        OutputParser p = new OutputParser(null, "deepseekv31");
        assertTrue(p.feed(CALLS + CALL + "get_wea").isEmpty());
        ChatDelta named = p.feed("ther" + SEP + " {\"ci");
        assertEquals(2, named.toolCalls().size());
        assertEquals("get_weather", named.toolCalls().get(0).name());
        assertEquals("{\"ci", named.toolCalls().get(1).arguments(), "leading whitespace dropped");
        assertEquals("ty\": 1}", p.feed("ty\": 1} <｜tool▁call").toolCalls().getFirst().arguments()); // a partial end is held back
        assertTrue(p.feed("▁end｜>" + CALLS_END).isEmpty());
    }

    @Test
    void noParsersMeansAllContent() {
        assertEquals(new ParsedOutput("", "  <think>x</think> " + CALLS, List.of()), OutputParser.parse("  <think>x</think> " + CALLS, null, null));
    }

    @Test
    void unknownParserNamesAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new OutputParser("qwen3", null));
        assertThrows(IllegalArgumentException.class, () -> new OutputParser(null, "llama3"));
    }
}
