package kiln.chat;

/** A complete tool call (OpenAI's {@code message.tool_calls[i]}, type "function"): {@code arguments} is JSON text. */
public record ToolCall(int index, String id, String name, String arguments) {}
