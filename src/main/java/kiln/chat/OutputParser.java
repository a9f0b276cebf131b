package kiln.chat;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A request's generated text to OpenAI chat-completion fields: the reasoning parser (if any) splits off
 * {@code reasoning_content}, the tool-call parser (if any) takes {@code tool_calls} out of the rest, and what remains
 * is {@code content}. Streaming: {@link #feed} each decoded piece and send the {@link ChatDelta} it returns (skip
 * empty ones), then {@link #finish}. Not streaming: {@link #parse}. Both give the same text for any cut of the
 * output into pieces. Stateful: one per request.
 */
public final class OutputParser {
    private final ReasoningParser reasoning;
    private final ToolCallParser tools;

    /** Either name may be null for "no such parser" (then all text is content). */
    public OutputParser(String reasoningParser, String toolCallParser) {
        this(reasoningParser == null ? null : ReasoningParser.create(reasoningParser),
                toolCallParser == null ? null : ToolCallParser.create(toolCallParser));
    }

    OutputParser(ReasoningParser reasoning, ToolCallParser tools) {
        this.reasoning = reasoning;
        this.tools = tools;
    }

    public ChatDelta feed(String piece) {
        ReasoningParser.Split split = reasoning == null ? new ReasoningParser.Split("", piece) : reasoning.feed(piece);
        return delta(split.reasoning(), split.content(), false);
    }

    public ChatDelta finish() {
        ReasoningParser.Split split = reasoning == null ? ReasoningParser.Split.NONE : reasoning.finish();
        return delta(split.reasoning(), split.content(), true);
    }

    private ChatDelta delta(String reasoningText, String content, boolean last) {
        if (tools == null) return reasoningText.isEmpty() && content.isEmpty() ? ChatDelta.EMPTY : new ChatDelta(reasoningText, content, List.of());
        ToolCallParser.Result r = content.isEmpty() ? ToolCallParser.Result.NONE : tools.feed(content);
        if (!last) return new ChatDelta(reasoningText, r.content(), r.calls());
        ToolCallParser.Result end = tools.finish();
        List<ToolCallDelta> calls = new ArrayList<>(r.calls());
        calls.addAll(end.calls());
        return new ChatDelta(reasoningText, r.content() + end.content(), List.copyOf(calls));
    }

    /** The whole output at once. */
    public static ParsedOutput parse(String text, String reasoningParser, String toolCallParser) {
        OutputParser p = new OutputParser(reasoningParser, toolCallParser);
        return collect(List.of(p.feed(text), p.finish()));
    }

    /** Joins streamed deltas into the message they describe. */
    public static ParsedOutput collect(List<ChatDelta> deltas) {
        StringBuilder reasoningText = new StringBuilder(), content = new StringBuilder();
        Map<Integer, String[]> calls = new LinkedHashMap<>(); // index -> {id, name, arguments}
        for (ChatDelta d : deltas) {
            reasoningText.append(d.reasoningContent());
            content.append(d.content());
            for (ToolCallDelta c : d.toolCalls()) {
                String[] call = calls.computeIfAbsent(c.index(), i -> new String[] {null, null, ""});
                if (c.id() != null) call[0] = c.id();
                if (c.name() != null) call[1] = c.name();
                call[2] += c.arguments();
            }
        }
        List<ToolCall> list = new ArrayList<>();
        calls.forEach((index, c) -> list.add(new ToolCall(index, c[0], c[1], c[2])));
        return new ParsedOutput(reasoningText.toString(), content.toString(), List.copyOf(list));
    }
}
