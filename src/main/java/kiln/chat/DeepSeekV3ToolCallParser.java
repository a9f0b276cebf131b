package kiln.chat;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;

/**
 * DeepSeek-V3/R1 tool calls, as their chat template writes them:
 * <pre>
 * &lt;｜tool▁calls▁begin｜&gt;&lt;｜tool▁call▁begin｜&gt;function&lt;｜tool▁sep｜&gt;NAME
 * ```json
 * ARGS
 * ```&lt;｜tool▁call▁end｜&gt;...&lt;｜tool▁calls▁end｜&gt;
 * </pre>
 * A call's id and name go out as soon as the name line is complete, then its arguments as they arrive; markup that
 * may be cut between pieces (a partial marker, the closing fence) is held back until it is told apart. Content
 * before the calls is stripped of surrounding whitespace, as SGLang does. These markers are added tokens, so the
 * output must be decoded with special tokens kept for this parser to see them.
 */
final class DeepSeekV3ToolCallParser implements ToolCallParser {
    static final String CALLS_BEGIN = "<｜tool▁calls▁begin｜>";
    static final String CALLS_END = "<｜tool▁calls▁end｜>";
    static final String CALL_BEGIN = "<｜tool▁call▁begin｜>";
    static final String CALL_END = "<｜tool▁call▁end｜>";
    static final String SEP = "<｜tool▁sep｜>";
    static final String FENCE = "```json\n";
    /** As R1's chat template writes calls: one per line between the block's markers, arguments fenced as JSON. */
    static final ToolCallFormat FORMAT = new ToolCallFormat(CALLS_BEGIN, "\n", CALLS_END, CALL_BEGIN + "function" + SEP,
            "\n" + FENCE, "\n```" + CALL_END);

    private enum State { CONTENT, BETWEEN_CALLS, HEADER, FENCE, ARGUMENTS }

    private final Supplier<String> ids;
    private State state = State.CONTENT;
    private String buffer = "";
    private final Trimmer content = new Trimmer();
    private int calls;

    DeepSeekV3ToolCallParser() {
        this(() -> "call_" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong()) + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()));
    }

    DeepSeekV3ToolCallParser(Supplier<String> ids) {
        this.ids = ids;
    }

    @Override
    public Result feed(String piece) {
        buffer += piece;
        StringBuilder text = new StringBuilder();
        List<ToolCallDelta> deltas = new ArrayList<>();
        while (step(text, deltas)) {
            // each step consumes a marker or a complete part; stop when the rest must wait for more text
        }
        return new Result(text.toString(), deltas);
    }

    /** Advances over what the buffer decides; false when it needs more text. */
    private boolean step(StringBuilder text, List<ToolCallDelta> deltas) {
        switch (state) {
            case CONTENT -> {
                int calls = buffer.indexOf(CALLS_BEGIN), call = buffer.indexOf(CALL_BEGIN);
                int at = calls < 0 ? call : call < 0 ? calls : Math.min(calls, call);
                if (at < 0) {
                    int safe = buffer.length() - Math.max(Markers.partialSuffix(buffer, CALLS_BEGIN), Markers.partialSuffix(buffer, CALL_BEGIN));
                    text.append(content.push(buffer.substring(0, safe)));
                    buffer = buffer.substring(safe);
                    return false;
                }
                text.append(content.push(buffer.substring(0, at)));
                boolean block = at == calls;
                buffer = buffer.substring(at + (block ? CALLS_BEGIN : CALL_BEGIN).length());
                state = block ? State.BETWEEN_CALLS : State.HEADER;
                return true;
            }
            case BETWEEN_CALLS -> {
                String rest = buffer.stripLeading();
                if (rest.startsWith(CALL_BEGIN)) {
                    buffer = rest.substring(CALL_BEGIN.length());
                    state = State.HEADER;
                    return true;
                }
                if (rest.startsWith(CALLS_END)) {
                    buffer = rest.substring(CALLS_END.length());
                    state = State.CONTENT;
                    return true;
                }
                if (rest.isEmpty() || Markers.proper(rest, CALL_BEGIN) || Markers.proper(rest, CALLS_END)) return false;
                buffer = rest.substring(1); // stray text between calls is dropped, one char at a time up to a marker
                return true;
            }
            case HEADER -> {
                int end = buffer.indexOf(CALL_END), sep = buffer.indexOf(SEP);
                int newline = sep < 0 ? -1 : buffer.indexOf('\n', sep);
                if (end >= 0 && (newline < 0 || end < newline)) { // a call without arguments
                    String name = (sep >= 0 && sep < end ? buffer.substring(sep + SEP.length(), end) : buffer.substring(0, end)).strip();
                    deltas.add(new ToolCallDelta(calls++, ids.get(), name, ""));
                    buffer = buffer.substring(end + CALL_END.length());
                    state = State.BETWEEN_CALLS;
                    return true;
                }
                if (newline < 0) return false;
                deltas.add(new ToolCallDelta(calls++, ids.get(), buffer.substring(sep + SEP.length(), newline).strip(), ""));
                buffer = buffer.substring(newline + 1);
                state = State.FENCE;
                return true;
            }
            case FENCE -> {
                if (Markers.proper(buffer, FENCE)) return false;
                if (buffer.startsWith(FENCE)) buffer = buffer.substring(FENCE.length());
                state = State.ARGUMENTS;
                return true;
            }
            case ARGUMENTS -> {
                int end = buffer.indexOf(CALL_END);
                if (end < 0) {
                    int safe = heldStart(buffer);
                    if (safe > 0) deltas.add(new ToolCallDelta(calls - 1, null, null, buffer.substring(0, safe)));
                    buffer = buffer.substring(safe);
                    return false;
                }
                String last = stripClosingFence(buffer.substring(0, end));
                if (!last.isEmpty()) deltas.add(new ToolCallDelta(calls - 1, null, null, last));
                buffer = buffer.substring(end + CALL_END.length());
                state = State.BETWEEN_CALLS;
                return true;
            }
        }
        throw new AssertionError(state);
    }

    /**
     * Where the arguments text may start turning into the call's closing: a partial {@code <｜tool▁call▁end｜>},
     * before it whitespace, up to three backticks of the closing fence, and whitespace. JSON arguments end in a
     * bracket, so holding these back delays nothing that belongs to them for long.
     */
    private static int heldStart(String s) {
        int k = s.length() - Markers.partialSuffix(s, CALL_END);
        while (k > 0 && Character.isWhitespace(s.charAt(k - 1))) k--;
        for (int ticks = 0; ticks < 3 && k > 0 && s.charAt(k - 1) == '`'; ticks++) k--;
        while (k > 0 && Character.isWhitespace(s.charAt(k - 1))) k--;
        return k;
    }

    /** The arguments of a closed call: without the closing fence and the whitespace around it. */
    private static String stripClosingFence(String s) {
        s = s.stripTrailing();
        if (s.endsWith("```")) s = s.substring(0, s.length() - 3).stripTrailing();
        return s;
    }

    @Override
    public Result finish() {
        List<ToolCallDelta> deltas = new ArrayList<>();
        String text = "";
        switch (state) {
            case CONTENT -> text = content.push(buffer);
            case ARGUMENTS -> {
                String last = stripClosingFence(buffer);
                if (!last.isEmpty()) deltas.add(new ToolCallDelta(calls - 1, null, null, last));
            }
            case BETWEEN_CALLS, HEADER, FENCE -> {} // unfinished markup carries nothing
        }
        buffer = "";
        content.end();
        return new Result(text, deltas);
    }
}
