package kiln.chat;

/**
 * How a tool-call parser's format writes calls, for constraining output to it ({@code tool_choice} "required" or
 * a named function): {@code open}, then calls separated by {@code separator}, each {@link #begin}(name), the
 * arguments as JSON, {@link #end}; then {@code close}. The parser reads back what this writes; {@link ToolCallParser#format} gives each parser's.
 */
public record ToolCallFormat(String open, String separator, String close, String beforeName, String afterName, String end) {
    /** The text of a call up to its arguments. */
    public String begin(String name) {
        return beforeName + name + afterName;
    }

}
