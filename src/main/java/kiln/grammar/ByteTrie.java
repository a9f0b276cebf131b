package kiln.grammar;

import java.util.Arrays;

/**
 * A trie of byte strings, each string naming tokens, laid out in preorder so that a walk is a loop over an index:
 * skipping a dead subtree is one jump ({@link #subtreeEnd}). Node 0 is the root (the empty string). Node i's byte
 * is {@link #label}, its length {@link #depth}; the tokens whose string ends exactly at node i are
 * {@code tokens[tokenStart[i] .. tokenStart[i + 1])}, and those of its whole subtree run to
 * {@code tokenStart[subtreeEnd[i]]}.
 *
 * <p>The vocabulary trie holds every token's bytes; a token table's tail trie holds the ends of the tokens whose
 * acceptance depends on what lies below the stack top.
 */
final class ByteTrie {
    final int nodes;
    final byte[] label;
    final short[] depth;
    final int[] subtreeEnd;
    final int[] tokenStart;
    final int[] tokens;
    final int maxDepth;

    private ByteTrie(int nodes, byte[] label, short[] depth, int[] subtreeEnd, int[] tokenStart, int[] tokens, int maxDepth) {
        this.nodes = nodes;
        this.label = label;
        this.depth = depth;
        this.subtreeEnd = subtreeEnd;
        this.tokenStart = tokenStart;
        this.tokens = tokens;
        this.maxDepth = maxDepth;
    }

    /**
     * The trie of {@code count} strings: entry k is {@code bytes[k]} from {@code offsets[k]} on, naming token
     * {@code ids[k]}. Empty strings are left out.
     */
    static ByteTrie build(byte[][] bytes, int[] offsets, int[] ids, int count) {
        Integer[] order = new Integer[count];
        for (int k = 0; k < count; k++) order[k] = k;
        Arrays.sort(order, (x, y) -> Arrays.compareUnsigned(bytes[x], offsets[x], bytes[x].length, bytes[y], offsets[y], bytes[y].length));
        int cap = 16;
        byte[] label = new byte[cap];
        short[] depth = new short[cap];
        int[] tokenStart = new int[cap];
        int[] subtreeEnd = new int[cap];
        int[] tokens = new int[count];
        int[] open = new int[1];  // node at each depth of the current path
        int n = 1, t = 0, maxDepth = 0;
        byte[] prev = null;
        int prevOff = 0, prevLen = 0;
        for (int k : order) {
            byte[] b = bytes[k];
            int off = offsets[k], len = b.length - off;
            if (len <= 0) continue;
            int common = 0;
            if (prev != null) {
                int m = Math.min(len, prevLen);
                while (common < m && prev[prevOff + common] == b[off + common]) common++;
            }
            // close the nodes of the previous path below the shared prefix
            for (int d = prevLen; d > common; d--) subtreeEnd[open[d]] = n;
            if (len + 1 > open.length) open = Arrays.copyOf(open, Math.max(len + 1, open.length * 2));
            for (int d = common + 1; d <= len; d++) {
                if (n == label.length) {
                    cap = n * 2;
                    label = Arrays.copyOf(label, cap);
                    depth = Arrays.copyOf(depth, cap);
                    tokenStart = Arrays.copyOf(tokenStart, cap);
                    subtreeEnd = Arrays.copyOf(subtreeEnd, cap);
                }
                label[n] = b[off + d - 1];
                depth[n] = (short) d;
                tokenStart[n] = t;
                open[d] = n++;
            }
            tokens[t++] = ids[k];
            maxDepth = Math.max(maxDepth, len);
            prev = b;
            prevOff = off;
            prevLen = len;
        }
        for (int d = prevLen; d >= 1; d--) subtreeEnd[open[d]] = n;
        subtreeEnd[0] = n;
        tokenStart = Arrays.copyOf(tokenStart, n + 1);
        tokenStart[n] = t;
        // the root holds no token; its range must be empty
        tokenStart[0] = 0;
        return new ByteTrie(n, Arrays.copyOf(label, n), Arrays.copyOf(depth, n), Arrays.copyOf(subtreeEnd, n),
                tokenStart, Arrays.copyOf(tokens, t), maxDepth);
    }

    int label(int node) {
        return label[node] & 0xFF;
    }

    long bytesUsed() {
        return (long) nodes * (1 + 2 + 4 + 4) + tokens.length * 4L;
    }
}
