package kiln.chat;

import java.util.List;

/**
 * Finds tool calls in a model's answer as it streams ({@code --tool-call-parser}) and turns them into OpenAI
 * {@code tool_calls}; the text around them stays content. Stateful: one per request. Feeding the text in any pieces
 * gives the same joined result as feeding it whole.
 */
public interface ToolCallParser {
    /** The content and tool-call deltas that {@code piece} completes. */
    Result feed(String piece);

    /** Ends the output: releases held-back text; an unfinished call keeps the arguments received so far. */
    Result finish();

    record Result(String content, List<ToolCallDelta> calls) {
        static final Result NONE = new Result("", List.of());
    }

    /** Parser names accepted by {@link #create}, as SGLang's {@code --tool-call-parser} spells them. */
    List<String> NAMES = List.of("deepseekv3", "deepseekv31");

    static ToolCallParser create(String name) {
        return switch (name) {
            case "deepseekv3" -> new DeepSeekV3ToolCallParser();
            case "deepseekv31" -> new DeepSeekV31ToolCallParser();
            default -> throw unknown(name);
        };
    }

    /** How the parser {@code name} reads calls, for constraining output to them (tool_choice required or named). */
    static ToolCallFormat format(String name) {
        return switch (name) {
            case "deepseekv3" -> DeepSeekV3ToolCallParser.FORMAT;
            case "deepseekv31" -> DeepSeekV31ToolCallParser.FORMAT;
            default -> throw unknown(name);
        };
    }

    private static IllegalArgumentException unknown(String name) {
        return new IllegalArgumentException("--tool-call-parser " + name + " is not known (known: " + String.join(", ", NAMES) + ")");
    }
}
