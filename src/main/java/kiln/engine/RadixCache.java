package kiln.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * Prefix reuse: a radix tree from token sequences to the KV slots that hold them. Running requests lock the node
 * their prefix ends at (and so every ancestor); unlocked leaves are evicted least recently used first when slots
 * run out. Slots in the tree belong to the tree: a finished request hands its slots over by inserting them, and
 * only eviction gives them back (to {@link KvSlots}, which returns them to the pool). Owned by the scheduler thread.
 */
final class RadixCache {
    static final class Node {
        private Node parent;
        private int[] key;
        private int[] slots;
        private final Map<Integer, Node> children = new HashMap<>();
        private int locks;
        private long lastUsed;

        private Node(Node parent, int[] key, int[] slots) {
            this.parent = parent;
            this.key = key;
            this.slots = slots;
        }

        Node parent() {
            return parent;
        }

        /** The tokens of this edge (after the parent's). */
        int[] key() {
            return key.clone();
        }

        /** The slots of this edge's tokens. */
        int[] slots() {
            return slots.clone();
        }

        int length() {
            return slots.length;
        }

        Collection<Node> children() {
            return List.copyOf(children.values());
        }

        /** Sequences holding this node or one below it (the root's one lock is permanent). */
        int locks() {
            return locks;
        }
    }

    /** The longest cached prefix of a sequence: its slots and the node to lock while they are used. */
    record Match(int[] slots, Node node) {
        int length() {
            return slots.length;
        }
    }

    private final boolean enabled;
    private final Node root = new Node(null, new int[0], new int[0]);
    private long clock;
    private int cachedTokens;  // slots held by the tree
    private int lockedTokens;  // of those, slots under a lock

    RadixCache(boolean enabled) {
        this.enabled = enabled;
        root.locks = 1;
    }

    boolean enabled() {
        return enabled;
    }

    Node root() {
        return root;
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
        return new Match(concat(parts, matched), node);
    }

    /**
     * Adds {@code tokens[0, n)} held in {@code slots[0, n)}. Prefixes already in the tree keep their slots; the
     * caller's duplicate slots for them are returned, in position order, for the caller to free.
     */
    int[] insert(int[] tokens, int[] slots, int n) {
        if (!enabled) throw new IllegalStateException("radix cache disabled");
        int[] duplicates = new int[n];
        int found = 0;
        Node node = root;
        int at = 0;
        while (at < n) {
            Node child = node.children.get(tokens[at]);
            if (child == null) {
                Node leaf = new Node(node, Arrays.copyOfRange(tokens, at, n), Arrays.copyOfRange(slots, at, n));
                node.children.put(tokens[at], leaf);
                cachedTokens += n - at;
                touch(leaf);
                break;
            }
            int common = commonPrefix(child.key, tokens, at, n);
            if (common < child.key.length) child = split(child, common);
            // slots the caller computed again for a prefix the tree already has
            for (int i = 0; i < common; i++) {
                if (slots[at + i] != child.slots[i]) duplicates[found++] = slots[at + i];
            }
            at += common;
            node = child;
            touch(node);
        }
        return Arrays.copyOf(duplicates, found);
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

    /**
     * Evicts unlocked leaves, least recently used first, until at least {@code needed} slots are out (or nothing
     * unlocked is left). Returns the evicted slots, leaf by leaf in eviction order, for the caller to free.
     */
    int[] evict(int needed) {
        if (needed <= 0) return new int[0];
        PriorityQueue<Node> leaves = new PriorityQueue<>((a, b) -> Long.compare(a.lastUsed, b.lastUsed));
        collectEvictableLeaves(root, leaves);
        List<int[]> freed = new ArrayList<>();
        int count = 0;
        while (count < needed && !leaves.isEmpty()) {
            Node leaf = leaves.poll();
            freed.add(leaf.slots);
            count += leaf.slots.length;
            cachedTokens -= leaf.slots.length;
            Node parent = leaf.parent;
            parent.children.remove(leaf.key[0]);
            if (parent != root && parent.children.isEmpty() && parent.locks == 0) leaves.add(parent);
        }
        return concat(freed, count);
    }

    /** Evicts every unlocked entry (a flush when nothing runs empties the tree). */
    int[] evictAll() {
        return evict(Integer.MAX_VALUE);
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

    private static int[] concat(List<int[]> parts, int length) {
        int[] out = new int[length];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
