package kiln.chat;

/**
 * One entry of OpenAI's streamed {@code delta.tool_calls}. The first delta of a call carries {@code id} and
 * {@code name} (type is always "function") with empty {@code arguments}; later ones carry only an {@code arguments}
 * piece, with {@code id} and {@code name} null. Joined in order, the pieces of one index give the arguments string.
 */
public record ToolCallDelta(int index, String id, String name, String arguments) {
    public static final String TYPE = "function";
}
