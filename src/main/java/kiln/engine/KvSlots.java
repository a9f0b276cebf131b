package kiln.engine;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Who holds each KV slot. Between steps every slot of the backend's cache is in exactly one of four places:
 * <pre>
 *   KvPool            RadixCache                                 live sequences
 *  +------------+    +------------------+--------------------+    +--------------------------------+
 *  | free       |    | evictable        | locked             |    | owned: each sequence's         |
 *  | (a stack)  |    | (no live         | (on the path from  |    | slots[treeOwned, computed)     |
 *  |            |    |  sequence holds  |  the root to some  |    |                                |
 *  |            |    |  it or below it) |  sequence's node)  |    |                                |
 *  +------------+    +------------------+--------------------+    +--------------------------------+
 *       free      +      evictable      +       locked        +              owned           = capacity
 *
 *  one sequence's slots[]:
 *  0                        treeOwned                     computed                 allocated
 *  |-- the tree's, shared ----|-- its own ------------------|-- its own, this step --|
 *   locked through its node    to the tree when it ends,      allocated by the plan,
 *                              to the pool on abort/retract   written by the forward
 *                                                             (to the pool if it fails)
 * </pre>
 * Allocation takes from the free stack, evicting unlocked tree leaves into it when short; eviction is the only way
 * tree slots get free again. This class is the only code that changes the pool, the tree or a sequence's
 * {@link Held} slots, and {@link #checkIntegrity} checks the picture above. Owned by the scheduler thread.
 */
final class KvSlots {
    /** The KV slots one sequence holds. The fields are private to KvSlots: nothing else can move a slot. */
    static final class Held {
        private int[] slots = new int[0];
        private int computed, treeOwned, allocated;
        private RadixCache.Node node;

        /** The slot of each token; [0, computed) hold its KV (the array runs longer). Read-only outside KvSlots. */
        int[] slots() {
            return slots;
        }

        /** Tokens whose KV is computed, or queued on the device by a launched step (later steps run after it). */
        int computed() {
            return computed;
        }

        /** Tokens whose slots belong to the radix tree (a prefix of the computed ones). */
        int treeOwned() {
            return treeOwned;
        }

        private void put(int from, int[] newSlots, int count) {
            if (slots.length < from + count) slots = Arrays.copyOf(slots, Math.max(from + count, slots.length * 2));
            System.arraycopy(newSlots, 0, slots, from, count);
        }

        private void clear() {
            node = null;
            treeOwned = 0;
            computed = 0;
            allocated = 0;
        }
    }

    private final KvPool pool;
    private final RadixCache tree;

    KvSlots(int capacity, boolean prefixCache) {
        pool = new KvPool(capacity);
        tree = new RadixCache(prefixCache);
    }

    boolean cachesPrefixes() {
        return tree.enabled();
    }

    int capacity() {
        return pool.capacity();
    }

    /** Slots a sequence could still get: the free ones and those eviction would free. */
    int available() {
        return pool.available() + tree.evictableTokens();
    }

    /** Slots neither free nor evictable (kv_used_tokens). */
    int usedTokens() {
        return capacity() - available();
    }

    /** Slots the tree holds, locked or not. */
    int cachedTokens() {
        return tree.cachedTokens();
    }

    /** The longest cached prefix of {@code tokens[0, limit)}; nothing is locked until {@link #start}. */
    RadixCache.Match match(int[] tokens, int limit) {
        return tree.match(tokens, limit);
    }

    /**
     * Starts a waiting sequence on its cached prefix: locks the prefix's node and takes {@code n} fresh slots after
     * it. When the slots cannot be had, nothing is held and the answer is false.
     */
    boolean start(Sequence s, RadixCache.Match prefix, int n) {
        Held h = s.kv;
        if (h.node != null || h.computed != 0) throw broken("sequence %s already holds slots", name(s));
        tree.lock(prefix.node());
        h.node = prefix.node();
        h.put(0, prefix.slots(), prefix.length());
        h.treeOwned = h.computed = h.allocated = prefix.length();
        if (allocate(s, n)) return true;
        tree.unlock(prefix.node());
        h.clear();
        return false;
    }

    /** Takes {@code n} fresh slots for the sequence's next tokens, evicting cached prefixes if needed. */
    boolean allocate(Sequence s, int n) {
        if (pool.available() < n) pool.release(tree.evict(n - pool.available()));
        Held h = s.kv;
        if (h.allocated != h.computed) throw broken("sequence %s allocates again before its last step was computed", name(s));
        int[] slots = pool.allocate(n);
        if (slots == null) return false;
        h.put(h.computed, slots, n);
        h.allocated = h.computed + n;
        return true;
    }

    /**
     * The forward has written (or, on a device that runs ahead, queued the writing of) the KV of the sequence's next
     * {@code fed} tokens into the slots allocated for them.
     */
    void computed(Sequence s, int fed) {
        Held h = s.kv;
        if (h.computed + fed > h.allocated) throw broken("sequence %s computed %d tokens past its allocated slots", name(s), h.computed + fed - h.allocated);
        h.computed += fed;
    }

    /** After a prefill step, the computed prompt goes into the tree so others (and n-siblings) can share it. */
    void cacheUnfinished(Sequence s) {
        Held h = s.kv;
        if (!tree.enabled() || h.computed == 0) return;
        pool.release(tree.insert(s.tokens, h.slots, h.computed));
        RadixCache.Match m = tree.match(s.tokens, h.computed);
        tree.lock(m.node());
        if (h.node != null) tree.unlock(h.node);
        h.node = m.node();
        h.put(0, m.slots(), m.length());
        h.treeOwned = m.length();
    }

    /** An n-sibling starts where its parent's prefill ended: on the same slots, all the tree's, locked once more. */
    void fork(Sequence parent, Sequence sibling) {
        Held p = parent.kv, h = sibling.kv;
        if (p.treeOwned != p.computed) {
            throw broken("sequence %s forks with %d slots of its own, which a sibling cannot share", name(parent),
                    p.computed - p.treeOwned);
        }
        h.put(0, p.slots, p.computed);
        h.computed = h.treeOwned = h.allocated = p.computed;
        h.node = p.node;
        tree.lock(h.node);
    }

    /**
     * Returns a sequence's slots: its computed ones to the tree when {@code keep} and the cache is on, else to the
     * pool; slots allocated for a step whose forward never ran (it failed) always to the pool.
     */
    void release(Sequence s, boolean keep) {
        Held h = s.kv;
        if (keep && tree.enabled() && h.computed > 0) {
            pool.release(tree.insert(s.tokens, h.slots, h.computed));
        } else {
            pool.release(h.slots, h.treeOwned, h.computed);
        }
        pool.release(h.slots, h.computed, h.allocated);
        if (h.node != null) tree.unlock(h.node);
        h.clear();
    }

    /** Empties the tree of everything unlocked (all of it when nothing runs). */
    void flush() {
        pool.release(tree.evictAll());
    }

    // ---- integrity ----

    private static final int NOWHERE = 0, FREE = 1, TREE = 2, SEQUENCE = 3;

    /**
     * Checks the diagram above against the pool, the tree and {@code live} (every sequence running or waiting):
     * free + evictable + locked + owned == capacity, no slot in two places, each sequence's tree-owned slots
     * exactly its node's path, and every node's lock count the number of live sequences whose node is it or below
     * it (the root: its one permanent lock). Throws IllegalStateException saying what is broken.
     */
    void checkIntegrity(Collection<Sequence> live) {
        List<Sequence> seqs = List.copyOf(live);
        int[] holder = new int[pool.capacity()];
        pool.freeSlots().forEach(slot -> place(holder, slot, FREE, seqs));
        int locked = checkTree(holder, seqs);
        int owned = checkSequences(holder, seqs);
        int free = pool.available(), evictable = tree.evictableTokens(), sum = free + evictable + locked + owned;
        if (sum != holder.length) {
            int lost = 0;
            while (lost < holder.length && holder[lost] != NOWHERE) lost++;
            throw broken("free %d + evictable %d + locked %d + owned %d = %d, not the capacity %d%s", free, evictable,
                    locked, owned, sum, holder.length, lost < holder.length ? " (slot " + lost + " is nowhere)" : "");
        }
    }

    /** Places the tree's slots, checks its lock and token counts; returns how many slots are locked. */
    private int checkTree(int[] holder, List<Sequence> seqs) {
        RadixCache.Node root = tree.root();
        Map<RadixCache.Node, Integer> holders = new IdentityHashMap<>();
        for (Sequence s : seqs) {
            for (RadixCache.Node n = s.kv.node; n != null && n != root; n = n.parent()) holders.merge(n, 1, Integer::sum);
        }
        if (root.locks() != 1) throw broken("the radix root has %d locks, not its permanent 1", root.locks());
        int cached = 0, locked = 0;
        Deque<RadixCache.Node> todo = new ArrayDeque<>(root.children());
        while (!todo.isEmpty()) {
            RadixCache.Node n = todo.pop();
            todo.addAll(n.children());
            for (int slot : n.slots()) place(holder, slot, TREE, seqs);
            cached += n.length();
            if (n.locks() > 0) locked += n.length();
            Integer held = holders.remove(n);
            int expected = held == null ? 0 : held;
            if (n.locks() != expected) {
                throw broken("radix node %s has %d locks but %d live sequences hold it or a node below it",
                        Arrays.toString(n.key()), n.locks(), expected);
            }
        }
        if (!holders.isEmpty()) throw broken("%d radix nodes held by live sequences are no longer in the tree", holders.size());
        if (cached != tree.cachedTokens() || cached - locked != tree.evictableTokens()) {
            throw broken("the radix tree counts %d cached and %d evictable tokens, its nodes hold %d and %d",
                    tree.cachedTokens(), tree.evictableTokens(), cached, cached - locked);
        }
        return locked;
    }

    /** Places each sequence's own slots, checks that its tree-owned ones are its node's; returns the owned slots. */
    private static int checkSequences(int[] holder, List<Sequence> seqs) {
        int owned = 0;
        for (int i = 0; i < seqs.size(); i++) {
            Sequence s = seqs.get(i);
            Held h = s.kv;
            if (h.treeOwned < 0 || h.treeOwned > h.computed || h.computed > h.slots.length) {
                throw broken("sequence %s has treeOwned %d, computed %d and %d slot entries", name(s), h.treeOwned,
                        h.computed, h.slots.length);
            }
            if (h.allocated != h.computed) {
                throw broken("sequence %s holds %d slots allocated for a step that was never computed", name(s), h.allocated - h.computed);
            }
            if (h.node == null && h.computed > 0) {
                throw broken("sequence %s has %d computed slots but no radix node", name(s), h.computed);
            }
            int[] path = h.node == null ? new int[0] : pathSlots(h.node);
            if (!Arrays.equals(path, 0, path.length, h.slots, 0, h.treeOwned)) {
                throw broken("sequence %s's %d tree-owned slots are not the %d slots of its radix node's path", name(s),
                        h.treeOwned, path.length);
            }
            for (int j = h.treeOwned; j < h.computed; j++) place(holder, h.slots[j], SEQUENCE + i, seqs);
            owned += h.computed - h.treeOwned;
        }
        return owned;
    }

    private static void place(int[] holder, int slot, int where, List<Sequence> seqs) {
        if (slot < 0 || slot >= holder.length) {
            throw broken("slot %d of %s is outside the pool [0, %d)", slot, describe(where, seqs), holder.length);
        }
        if (holder[slot] != NOWHERE) {
            throw broken("slot %d is in both %s and %s", slot, describe(holder[slot], seqs), describe(where, seqs));
        }
        holder[slot] = where;
    }

    private static IllegalStateException broken(String format, Object... args) {
        return new IllegalStateException(String.format(format, args));
    }

    private static String describe(int where, List<Sequence> seqs) {
        return switch (where) {
            case FREE -> "the free stack";
            case TREE -> "the radix tree";
            default -> "sequence " + name(seqs.get(where - SEQUENCE));
        };
    }

    private static String name(Sequence s) {
        return s.request.id() + "#" + s.index;
    }

    /** The slots from the root down to {@code node}, in token order. */
    private static int[] pathSlots(RadixCache.Node node) {
        List<int[]> parts = new ArrayList<>();
        int length = 0;
        for (RadixCache.Node n = node; n.parent() != null; n = n.parent()) {
            parts.addFirst(n.slots());
            length += n.length();
        }
        int[] out = new int[length];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
