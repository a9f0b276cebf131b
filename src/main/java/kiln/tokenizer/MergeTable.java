package kiln.tokenizer;

/**
 * BPE merges keyed by the pair of ids they join: (left, right) -> (rank, merged id). Open addressing over two long
 * arrays, because this lookup is the inner loop of encoding and boxed keys would dominate it.
 */
final class MergeTable {
    private static final long EMPTY = -1L;
    /** What {@link #get} answers for a pair that is no merge. */
    static final long NONE = -1L;

    private final long[] keys;
    private final long[] values;
    private final int mask;

    MergeTable(int expected) {
        int capacity = Integer.highestOneBit(Math.max(16, expected * 2 - 1)) << 1;
        keys = new long[capacity];
        values = new long[capacity];
        mask = capacity - 1;
        java.util.Arrays.fill(keys, EMPTY);
    }

    private static long key(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    private int slot(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        return (int) (h ^ (h >>> 29)) & mask;
    }

    /** Adds a merge; a pair listed twice keeps its later rank, as HF's map building does. */
    void put(int left, int right, int rank, int merged) {
        long k = key(left, right);
        int i = slot(k);
        while (keys[i] != EMPTY && keys[i] != k) i = (i + 1) & mask;
        keys[i] = k;
        values[i] = ((long) rank << 32) | (merged & 0xFFFFFFFFL);
    }

    /** {@code rank << 32 | merged}, or {@link #NONE}. */
    long get(int left, int right) {
        long k = key(left, right);
        int i = slot(k);
        while (true) {
            long at = keys[i];
            if (at == k) return values[i];
            if (at == EMPTY) return NONE;
            i = (i + 1) & mask;
        }
    }

    static int rank(long entry) {
        return (int) (entry >>> 32);
    }

    static int merged(long entry) {
        return (int) entry;
    }
}
