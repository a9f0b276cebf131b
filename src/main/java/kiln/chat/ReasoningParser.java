package kiln.chat;

import java.util.List;

/**
 * Splits a model's output into reasoning and answer as it streams ({@code --reasoning-parser}). Stateful: one per
 * request. Feeding the text in any pieces gives the same joined result as feeding it whole.
 */
public interface ReasoningParser {
    /** The reasoning and answer text that {@code piece} completes (either may be ""). */
    Split feed(String piece);

    /** Ends the output: releases what was held back to decide where it belongs. */
    Split finish();

    record Split(String reasoning, String content) {
        static final Split NONE = new Split("", "");
    }

    /** Parser names accepted by {@link #create}, as SGLang's {@code --reasoning-parser} spells them. */
    List<String> NAMES = List.of("deepseek-r1");

    static ReasoningParser create(String name) {
        return switch (name) {
            case "deepseek-r1" -> new DeepSeekR1ReasoningParser();
            default -> throw new IllegalArgumentException("--reasoning-parser " + name + " is not known (known: " + String.join(", ", NAMES) + ")");
        };
    }
}
