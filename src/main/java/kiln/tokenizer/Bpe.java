package kiln.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The byte-level BPE model: a pre-tokenized word's UTF-8 bytes start as one symbol each and the lowest-ranked
 * adjacent pair is merged (leftmost first) until no pair is a merge. Results are cached per word, since natural
 * text repeats its words: most words of a long prompt are answered from the cache.
 */
final class Bpe {
    /** Words longer than this (in bytes) are merged with a heap instead of rescanning all pairs per merge. */
    private static final int SCAN_LIMIT = 48;
    /** Words longer than this are not cached: long runs (whitespace, CJK) rarely repeat exactly. */
    private static final int CACHE_MAX_WORD = 64;
    /** Like HF's cache the map fills up and then stops taking entries, so memory stays bounded without eviction. */
    private static final int CACHE_CAPACITY = 100_000;

    /** Only kept for {@code ignore_merges}, which looks whole words up. */
    private final Map<String, Integer> vocab;
    private final MergeTable merges;
    private final int[] byteIds = new int[256];
    private final boolean ignoreMerges;
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    Bpe(Map<String, Integer> vocab, MergeTable merges, boolean ignoreMerges) {
        this.vocab = ignoreMerges ? vocab : null;
        this.merges = merges;
        this.ignoreMerges = ignoreMerges;
        for (int b = 0; b < 256; b++) {
            Integer id = vocab.get(String.valueOf(ByteLevel.charOf(b)));
            if (id == null) {
                throw new TokenizerException(String.format(
                        "model.vocab lacks the byte-level token for byte 0x%02X ('%s'); only byte-level BPE vocabularies are supported",
                        b, ByteLevel.charOf(b)));
            }
            byteIds[b] = id;
        }
    }

    /** Forgets cached words (for measuring encoding without the cache). */
    void clearCache() {
        cache.clear();
    }

    /** Appends the ids of one pre-tokenized word. */
    void encodeWord(String word, IntList out) {
        if (word.length() <= CACHE_MAX_WORD) {
            int[] cached = cache.get(word);
            if (cached == null) {
                cached = merge(word);
                if (cache.size() < CACHE_CAPACITY) cache.put(word, cached);
            }
            out.addAll(cached);
        } else {
            out.addAll(merge(word));
        }
    }

    private int[] merge(String word) {
        if (ignoreMerges) {
            Integer whole = vocab.get(ByteLevel.encode(word));
            if (whole != null) return new int[] {whole};
        }
        byte[] bytes = word.getBytes(StandardCharsets.UTF_8);
        int n = bytes.length;
        int[] symbols = new int[n];
        for (int i = 0; i < n; i++) symbols[i] = byteIds[bytes[i] & 0xFF];
        return n <= SCAN_LIMIT ? mergeByScan(symbols) : mergeByHeap(symbols);
    }

    /** Short words: find the best pair by scanning, merge it, repeat. Quadratic, but with tiny n it beats a heap. */
    private int[] mergeByScan(int[] symbols) {
        int n = symbols.length;
        while (n > 1) {
            int bestRank = Integer.MAX_VALUE, at = -1, merged = 0;
            for (int i = 0; i + 1 < n; i++) {
                long m = merges.get(symbols[i], symbols[i + 1]);
                if (m != MergeTable.NONE && MergeTable.rank(m) < bestRank) {
                    bestRank = MergeTable.rank(m);
                    merged = MergeTable.merged(m);
                    at = i;
                }
            }
            if (at < 0) break;
            symbols[at] = merged;
            System.arraycopy(symbols, at + 2, symbols, at + 1, n - at - 2);
            n--;
        }
        return n == symbols.length ? symbols : Arrays.copyOf(symbols, n);
    }

    /**
     * Long words: symbols form a linked list and candidate pairs wait in a min-heap ordered by (rank, position),
     * which gives the same leftmost-lowest-rank order as the scan. Entries made stale by an earlier merge are
     * recognised on pop (the pair at that position no longer has that rank) and dropped.
     */
    private int[] mergeByHeap(int[] symbols) {
        int n = symbols.length;
        int[] next = new int[n], prev = new int[n];
        for (int i = 0; i < n; i++) {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        LongHeap heap = new LongHeap(n);
        for (int i = 0; i + 1 < n; i++) push(heap, symbols, i, i + 1);
        int alive = n;
        while (!heap.isEmpty()) {
            long top = heap.pop();
            int rank = (int) (top >>> 32), pos = (int) top;
            int right = next[pos];
            if (symbols[pos] < 0 || right < 0) continue;
            long m = merges.get(symbols[pos], symbols[right]);
            if (m == MergeTable.NONE || MergeTable.rank(m) != rank) continue;
            symbols[pos] = MergeTable.merged(m);
            symbols[right] = -1;
            next[pos] = next[right];
            if (next[right] >= 0) prev[next[right]] = pos;
            alive--;
            if (prev[pos] >= 0) push(heap, symbols, prev[pos], pos);
            if (next[pos] >= 0) push(heap, symbols, pos, next[pos]);
        }
        int[] out = new int[alive];
        for (int i = 0, k = 0; i >= 0; i = next[i]) out[k++] = symbols[i];
        return out;
    }

    private void push(LongHeap heap, int[] symbols, int left, int right) {
        long m = merges.get(symbols[left], symbols[right]);
        if (m != MergeTable.NONE) heap.push(((long) MergeTable.rank(m) << 32) | left);
    }

    /** A binary min-heap of longs. */
    private static final class LongHeap {
        private long[] a;
        private int size;

        LongHeap(int capacity) {
            a = new long[Math.max(4, capacity)];
        }

        boolean isEmpty() {
            return size == 0;
        }

        void push(long v) {
            if (size == a.length) a = Arrays.copyOf(a, size * 2);
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (a[parent] <= v) break;
                a[i] = a[parent];
                i = parent;
            }
            a[i] = v;
        }

        long pop() {
            long top = a[0], last = a[--size];
            int i = 0;
            while (true) {
                int child = 2 * i + 1;
                if (child >= size) break;
                if (child + 1 < size && a[child + 1] < a[child]) child++;
                if (a[child] >= last) break;
                a[i] = a[child];
                i = child;
            }
            a[i] = last;
            return top;
        }
    }
}
