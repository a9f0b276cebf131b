package kiln.bench;

/** What a request sends as its prompt: text, or token ids ({@code --tokenize-prompt}, native API only). */
public sealed interface Prompt {
    record Text(String text) implements Prompt {}

    record TokenIds(int[] ids) implements Prompt {}
}
