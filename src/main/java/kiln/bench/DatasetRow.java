package kiln.bench;

/**
 * One benchmark request as the dataset built it. {@code promptLen} is the dataset's own token count (what
 * "Total input tokens" adds up), {@code outputLen} the number of tokens asked for.
 */
public record DatasetRow(Prompt prompt, int promptLen, int outputLen) {
    public DatasetRow {
        if (promptLen < 0 || outputLen < 0) throw new IllegalArgumentException("negative length in dataset row");
    }
}
