package kiln.chat;

import java.util.List;

/** A whole generated message split into OpenAI's {@code reasoning_content}, {@code content} and {@code tool_calls}. */
public record ParsedOutput(String reasoningContent, String content, List<ToolCall> toolCalls) {}
