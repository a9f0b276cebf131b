package kiln.chat;

import java.util.List;

/**
 * What one piece of generated text adds to an OpenAI chat-completions stream: {@code delta.reasoning_content},
 * {@code delta.content} and {@code delta.tool_calls}. Empty strings and an empty list mean "nothing new" (leave the
 * field out of the chunk).
 */
public record ChatDelta(String reasoningContent, String content, List<ToolCallDelta> toolCalls) {
    public static final ChatDelta EMPTY = new ChatDelta("", "", List.of());

    public boolean isEmpty() {
        return reasoningContent.isEmpty() && content.isEmpty() && toolCalls.isEmpty();
    }
}
