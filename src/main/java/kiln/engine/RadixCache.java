package kiln.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * Prefix reuse: a radix tree from token sequences to the KV slots that hold them. Running requests lock the node
 * their prefix ends at (and so every ancestor); unlocked leaves are evicted least recently used first when slots
 * run out. Slots in the tree belong to the tree: a finished request hands its slots over by inserting them, and
 * only eviction returns them to the pool. Owned by the scheduler thread.
 */
final class RadixCache {
    static final class Node {
        Node parent;
        int[] key;
        int[] slots;
        final Map<Integer, Node> children = new HashMap<>();
        int locks;
        long lastUsed;

        Node(Node parent, int[] key, int[] slots) {
            this.parent = parent;
            this.key = key;
            this.slots = slots;
        }
    }

    /** The longest cached prefix of a sequence: its slots and the node to lock while they are used. */
    record Match(int[] slots, Node node) {
        int length() {
            return slots.length;
        }
    }

    private final KvPool pool;
    private final boolean enabled;
    private final Node root = new Node(null, new int[0], new int[0]);
    private long clock;
    private int cachedTokens;  // slots held by the tree
    private int lockedTokens;  // of those, slots under a lock

    RadixCache(KvPool pool, boolean enabled) {
        this.pool = pool;
        this.enabled = enabled;
        root.locks = 1;
    }

    boolean enabled() {
        return enabled;
    }

    int cachedTokens() {
        return cachedTokens;
    }

    int evictableTokens() {
        return cachedTokens - lockedTokens;
    }

    /** The longest prefix of {@code tokens[0, limit)} held by the tree. */
    Match match(int[] tokens, int limit) {
        if (!enabled || limit <= 0) return new Match(new int[0], root);
        Node node = root;
        int matched = 0;
        List<int[]> parts = new ArrayList<>();
        while (matched < limit) {
            Node child = node.children.get(tokens[matched]);
            if (child == null) break;
            int common = commonPrefix(child.key, tokens, matched, limit);
            if (common < child.key.length) {
                if (common == 0) break;
                child = split(child, common);
            }
            parts.add(child.slots);
            matched += common;
            node = child;
            touch(node);
        }
        int[] slots = new int[matched];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, slots, at, p.length);
            at += p.length;
        }
        return new Match(slots, node);
    }

    /**
     * Adds {@code tokens[0, n)} held in {@code slots[0, n)}. Prefixes already in the tree keep their slots; the
     * caller's duplicate slots for them are returned to the pool. Returns the node of the full sequence.
     */
    Node insert(int[] tokens, int[] slots, int n) {
        if (!enabled) throw new IllegalStateException("radix cache disabled");
        Node node = root;
        int at = 0;
        while (at < n) {
            Node child = node.children.get(tokens[at]);
            if (child == null) {
                Node leaf = new Node(node, Arrays.copyOfRange(tokens, at, n), Arrays.copyOfRange(slots, at, n));
                node.children.put(tokens[at], leaf);
                cachedTokens += n - at;
                touch(leaf);
                return leaf;
            }
            int common = commonPrefix(child.key, tokens, at, n);
            if (common < child.key.length) child = split(child, common);
            // slots the caller computed again for a prefix the tree already has
            for (int i = 0; i < common; i++) {
                if (slots[at + i] != child.slots[i]) pool.release(slots, at + i, at + i + 1);
            }
            at += common;
            node = child;
            touch(node);
        }
        return node;
    }

    void lock(Node node) {
        for (Node n = node; n != root; n = n.parent) {
            if (n.locks++ == 0) lockedTokens += n.slots.length;
        }
    }

    void unlock(Node node) {
        for (Node n = node; n != root; n = n.parent) {
            if (--n.locks == 0) lockedTokens -= n.slots.length;
            if (n.locks < 0) throw new IllegalStateException("radix node unlocked more than locked");
        }
    }

    /** Frees at least {@code needed} slots by evicting unlocked leaves, least recently used first, if possible. */
    void evict(int needed) {
        if (needed <= 0) return;
        PriorityQueue<Node> leaves = new PriorityQueue<>((a, b) -> Long.compare(a.lastUsed, b.lastUsed));
        collectEvictableLeaves(root, leaves);
        int freed = 0;
        while (freed < needed && !leaves.isEmpty()) {
            Node leaf = leaves.poll();
            pool.release(leaf.slots);
            freed += leaf.slots.length;
            cachedTokens -= leaf.slots.length;
            Node parent = leaf.parent;
            parent.children.remove(leaf.key[0]);
            if (parent != root && parent.children.isEmpty() && parent.locks == 0) leaves.add(parent);
        }
    }

    /** Drops every unlocked entry (a flush when nothing runs empties the tree). */
    void evictAll() {
        evict(Integer.MAX_VALUE);
    }

    private void collectEvictableLeaves(Node node, PriorityQueue<Node> out) {
        if (node != root && node.children.isEmpty() && node.locks == 0) out.add(node);
        for (Node c : node.children.values()) collectEvictableLeaves(c, out);
    }

    /** Cuts {@code child} after {@code at} tokens; the node object keeps the tail, so locks held on it stay valid. */
    private Node split(Node child, int at) {
        Node mid = new Node(child.parent, Arrays.copyOf(child.key, at), Arrays.copyOf(child.slots, at));
        mid.locks = child.locks;
        mid.lastUsed = child.lastUsed;
        child.parent.children.put(mid.key[0], mid);
        child.key = Arrays.copyOfRange(child.key, at, child.key.length);
        child.slots = Arrays.copyOfRange(child.slots, at, child.slots.length);
        child.parent = mid;
        mid.children.put(child.key[0], child);
        return mid;
    }

    private void touch(Node n) {
        n.lastUsed = ++clock;
    }

    private static int commonPrefix(int[] key, int[] tokens, int from, int limit) {
        int i = 0;
        while (i < key.length && from + i < limit && key[i] == tokens[from + i]) i++;
        return i;
    }
}
