package kiln.chat;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;

/**
 * DeepSeek-V3.1 tool calls (SGLang's {@code --tool-call-parser deepseekv31}). V3.1's template drops V3's
 * {@code function} type before the name and the json code fence around the arguments:
 * <pre>
 * &lt;｜tool▁calls▁begin｜&gt;&lt;｜tool▁call▁begin｜&gt;NAME&lt;｜tool▁sep｜&gt;ARGS&lt;｜tool▁call▁end｜&gt;...&lt;｜tool▁calls▁end｜&gt;
 * </pre>
 * The name is what stands before {@code <｜tool▁sep｜>}, the arguments everything up to {@code <｜tool▁call▁end｜>}
 * (whitespace around either stripped, as SGLang strips them). A call's id and name go out once its separator has
 * arrived, then its arguments as they come; a partial end marker and the whitespace before it are held back until
 * more text tells them apart. Content before the calls is stripped of surrounding whitespace, as for V3.
 */
final class DeepSeekV31ToolCallParser implements ToolCallParser {
    /** As V3.1's chat template writes calls: back to back between the block's markers, bare JSON arguments. */
    static final ToolCallFormat FORMAT = new ToolCallFormat(DeepSeekV3ToolCallParser.CALLS_BEGIN, "", DeepSeekV3ToolCallParser.CALLS_END,
            DeepSeekV3ToolCallParser.CALL_BEGIN, DeepSeekV3ToolCallParser.SEP, DeepSeekV3ToolCallParser.CALL_END);

    private enum State { CONTENT, BETWEEN_CALLS, NAME, ARGUMENTS }

    private final Supplier<String> ids;
    private State state = State.CONTENT;
    private String buffer = "";
    private final Trimmer content = new Trimmer();
    private int calls;
    /** Whether the current call has sent any arguments yet (its leading whitespace is dropped until then). */
    private boolean argumentsStarted;

    DeepSeekV31ToolCallParser() {
        this(() -> "call_" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong()) + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()));
    }

    DeepSeekV31ToolCallParser(Supplier<String> ids) {
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
                String callsBegin = DeepSeekV3ToolCallParser.CALLS_BEGIN, callBegin = DeepSeekV3ToolCallParser.CALL_BEGIN;
                int block = buffer.indexOf(callsBegin), single = buffer.indexOf(callBegin);
                int at = block < 0 ? single : single < 0 ? block : Math.min(block, single);
                if (at < 0) {
                    int safe = buffer.length() - Math.max(Markers.partialSuffix(buffer, callsBegin), Markers.partialSuffix(buffer, callBegin));
                    text.append(content.push(buffer.substring(0, safe)));
                    buffer = buffer.substring(safe);
                    return false;
                }
                text.append(content.push(buffer.substring(0, at)));
                boolean isBlock = at == block;
                buffer = buffer.substring(at + (isBlock ? callsBegin : callBegin).length());
                state = isBlock ? State.BETWEEN_CALLS : State.NAME;
                return true;
            }
            case BETWEEN_CALLS -> {
                String rest = buffer.stripLeading();
                if (rest.startsWith(DeepSeekV3ToolCallParser.CALL_BEGIN)) {
                    buffer = rest.substring(DeepSeekV3ToolCallParser.CALL_BEGIN.length());
                    state = State.NAME;
                    return true;
                }
                if (rest.startsWith(DeepSeekV3ToolCallParser.CALLS_END)) {
                    buffer = rest.substring(DeepSeekV3ToolCallParser.CALLS_END.length());
                    state = State.CONTENT;
                    return true;
                }
                if (rest.isEmpty() || Markers.proper(rest, DeepSeekV3ToolCallParser.CALL_BEGIN)
                        || Markers.proper(rest, DeepSeekV3ToolCallParser.CALLS_END)) {
                    buffer = rest;
                    return false;
                }
                buffer = rest.substring(1); // stray text between calls is dropped, one char at a time up to a marker
                return true;
            }
            case NAME -> {
                int sep = buffer.indexOf(DeepSeekV3ToolCallParser.SEP), end = buffer.indexOf(DeepSeekV3ToolCallParser.CALL_END);
                if (end >= 0 && (sep < 0 || end < sep)) { // a call without a separator: a name and no arguments
                    deltas.add(new ToolCallDelta(calls++, ids.get(), buffer.substring(0, end).strip(), ""));
                    buffer = buffer.substring(end + DeepSeekV3ToolCallParser.CALL_END.length());
                    state = State.BETWEEN_CALLS;
                    return true;
                }
                if (sep < 0) return false;
                deltas.add(new ToolCallDelta(calls++, ids.get(), buffer.substring(0, sep).strip(), ""));
                buffer = buffer.substring(sep + DeepSeekV3ToolCallParser.SEP.length());
                argumentsStarted = false;
                state = State.ARGUMENTS;
                return true;
            }
            case ARGUMENTS -> {
                if (!argumentsStarted) buffer = buffer.stripLeading();
                int end = buffer.indexOf(DeepSeekV3ToolCallParser.CALL_END);
                if (end < 0) {
                    int safe = heldStart(buffer);
                    if (safe > 0) {
                        deltas.add(new ToolCallDelta(calls - 1, null, null, buffer.substring(0, safe)));
                        argumentsStarted = true;
                    }
                    buffer = buffer.substring(safe);
                    return false;
                }
                String last = buffer.substring(0, end).stripTrailing();
                if (!last.isEmpty()) deltas.add(new ToolCallDelta(calls - 1, null, null, last));
                buffer = buffer.substring(end + DeepSeekV3ToolCallParser.CALL_END.length());
                state = State.BETWEEN_CALLS;
                return true;
            }
        }
        throw new AssertionError(state);
    }

    /** Where the arguments may start turning into the call's end: a partial end marker and the whitespace before it. */
    private static int heldStart(String s) {
        int k = s.length() - Markers.partialSuffix(s, DeepSeekV3ToolCallParser.CALL_END);
        while (k > 0 && Character.isWhitespace(s.charAt(k - 1))) k--;
        return k;
    }

    @Override
    public Result finish() {
        List<ToolCallDelta> deltas = new ArrayList<>();
        String text = "";
        switch (state) {
            case CONTENT -> text = content.push(buffer);
            case ARGUMENTS -> {
                String last = argumentsStarted ? buffer.stripTrailing() : buffer.strip();
                if (!last.isEmpty()) deltas.add(new ToolCallDelta(calls - 1, null, null, last));
            }
            case BETWEEN_CALLS, NAME -> {} // unfinished markup carries nothing
        }
        buffer = "";
        content.end();
        return new Result(text, deltas);
    }
}
