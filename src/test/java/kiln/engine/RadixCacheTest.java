package kiln.engine;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The prefix tree on its own: splits, inserts over cached prefixes, LRU eviction, locks and its token counts. */
class RadixCacheTest {
    private static int[] t(int... v) {
        return v;
    }

    private static RadixCache.Node nodeOf(RadixCache tree, int... tokens) {
        RadixCache.Match m = tree.match(tokens, tokens.length);
        assertEquals(tokens.length, m.length(), "not cached in full");
        return m.node();
    }

    @Test
    void aPartialMatchSplitsTheNodeAndKeepsItsSlots() {
        RadixCache tree = new RadixCache(true);
        assertArrayEquals(new int[0], tree.insert(t(1, 2, 3, 4), t(10, 11, 12, 13), 4));
        RadixCache.Match m = tree.match(t(1, 2, 9), 3);
        assertArrayEquals(t(10, 11), m.slots());
        RadixCache.Node head = m.node();
        assertArrayEquals(t(1, 2), head.key());
        assertSame(tree.root(), head.parent());
        assertEquals(1, tree.root().children().size());
        RadixCache.Node tail = head.children().iterator().next();
        assertArrayEquals(t(3, 4), tail.key());
        assertArrayEquals(t(12, 13), tail.slots());
        assertEquals(4, tree.cachedTokens(), "a split changed how much the tree holds");
        // the limit cuts a match short, splitting again
        RadixCache.Match limited = tree.match(t(1, 2, 3, 4), 3);
        assertArrayEquals(t(10, 11, 12), limited.slots());
        assertArrayEquals(t(3), limited.node().key());
        assertArrayEquals(t(10, 11, 12, 13), tree.match(t(1, 2, 3, 4, 5), 5).slots());
        assertSame(tree.root(), tree.match(t(1, 2), 0).node());
        assertEquals(0, tree.match(t(7), 1).length());
    }

    @Test
    void insertingACachedPrefixKeepsTheTreeSlotsAndReturnsTheCallersDuplicates() {
        RadixCache tree = new RadixCache(true);
        tree.insert(t(1, 2, 3, 4), t(10, 11, 12, 13), 4);
        // slot 11 is the tree's own (a sequence that matched it); 20, 22, 23 were computed again
        assertArrayEquals(t(20, 22, 23), tree.insert(t(1, 2, 3, 4, 5, 6), t(20, 11, 22, 23, 24, 25), 6));
        assertEquals(6, tree.cachedTokens());
        assertArrayEquals(t(10, 11, 12, 13, 24, 25), tree.match(t(1, 2, 3, 4, 5, 6), 6).slots());
        assertArrayEquals(new int[0], tree.insert(t(1, 2, 3, 4), t(10, 11, 12, 13), 4));
        // only the first n tokens count
        assertArrayEquals(t(30), tree.insert(t(1, 2, 3, 4, 5, 6, 7), t(30, 11, 12, 13, 24, 25, 26), 1));
        assertEquals(6, tree.cachedTokens());
        assertThrows(IllegalStateException.class, () -> new RadixCache(false).insert(t(1), t(1), 1));
        assertEquals(0, new RadixCache(false).match(t(1, 2), 2).length());
    }

    @Test
    void evictsTheLeastRecentlyUsedLeafFirst() {
        RadixCache tree = new RadixCache(true);
        tree.insert(t(1, 2, 3), t(10, 11, 12), 3);
        tree.insert(t(1, 2, 5), t(10, 11, 15), 3);
        tree.insert(t(7, 8), t(17, 18), 2);
        tree.match(t(1, 2, 3), 3);
        // leaves by last use: [5], [7 8], [3]; a leaf goes whole even when fewer slots are needed
        assertArrayEquals(t(15), tree.evict(1));
        assertEquals(5, tree.cachedTokens());
        assertArrayEquals(t(17, 18), tree.evict(1));
        assertArrayEquals(t(12), tree.evict(1), "evicted more than needed");
        assertEquals(2, tree.cachedTokens());
        assertArrayEquals(t(10, 11), tree.evict(1), "the emptied parent did not become a leaf");
        assertEquals(0, tree.cachedTokens());
        assertArrayEquals(new int[0], tree.evict(1));
        assertArrayEquals(new int[0], tree.evict(0));
    }

    @Test
    void parentsAreEvictedAfterTheirChildrenWhateverTheirAge() {
        RadixCache tree = new RadixCache(true);
        tree.insert(t(1, 2, 3, 4, 5), t(11, 12, 13, 14, 15), 5);
        tree.insert(t(9), t(19), 1);
        tree.match(t(1, 2, 3), 3);
        // a match touches [1 2 3] before [4 5]: the parent is the older, still its child goes first
        tree.match(t(1, 2, 3, 4, 5), 5);
        assertArrayEquals(t(19, 14, 15, 11, 12, 13), tree.evictAll());
        assertEquals(0, tree.cachedTokens());
        assertEquals(0, tree.evictableTokens());
    }

    @Test
    void evictionNeverTouchesLockedNodesOrTheirAncestors() {
        RadixCache tree = new RadixCache(true);
        tree.insert(t(1, 2, 3), t(10, 11, 12), 3);
        tree.insert(t(1, 2, 5), t(10, 11, 15), 3);
        RadixCache.Node three = nodeOf(tree, 1, 2, 3);
        tree.lock(three);
        assertEquals(1, tree.evictableTokens());
        assertArrayEquals(t(15), tree.evictAll());
        assertEquals(3, tree.cachedTokens());
        assertEquals(0, tree.evictableTokens());
        assertArrayEquals(new int[0], tree.evict(3));
        assertArrayEquals(t(10, 11, 12), tree.match(t(1, 2, 3), 3).slots());
        tree.unlock(three);
        assertEquals(3, tree.evictableTokens());
        // a lock on an inner node keeps it while its unlocked children go
        tree.insert(t(1, 2, 5), t(10, 11, 15), 3);
        RadixCache.Node head = three.parent();
        tree.lock(head);
        assertArrayEquals(t(12, 15), sorted(tree.evictAll()));
        assertArrayEquals(t(10, 11), tree.match(t(1, 2, 3), 3).slots());
        tree.unlock(head);
        assertArrayEquals(t(10, 11), tree.evictAll());
    }

    @Test
    void locksCountUpTheAncestorChainAndSurviveSplits() {
        RadixCache tree = new RadixCache(true);
        tree.insert(t(1, 2, 3, 4), t(10, 11, 12, 13), 4);
        tree.insert(t(1, 2, 5, 6), t(10, 11, 15, 16), 4);
        RadixCache.Node a = nodeOf(tree, 1, 2, 3, 4), b = nodeOf(tree, 1, 2, 5, 6), head = a.parent();
        assertSame(head, b.parent());
        assertEquals(6, tree.cachedTokens());
        assertEquals(6, tree.evictableTokens());

        tree.lock(a);
        assertEquals(1, a.locks());
        assertEquals(1, head.locks());
        assertEquals(1, tree.root().locks(), "the root's one permanent lock changed");
        assertEquals(2, tree.evictableTokens());
        tree.lock(b);
        tree.lock(a);
        assertEquals(2, a.locks());
        assertEquals(3, head.locks());
        assertEquals(0, tree.evictableTokens());

        // cutting a locked node gives both halves its locks
        tree.match(t(1, 2, 3, 9), 4);
        RadixCache.Node three = a.parent();
        assertArrayEquals(t(3), three.key());
        assertEquals(2, three.locks());
        assertEquals(0, tree.evictableTokens());
        assertEquals(6, tree.cachedTokens());

        tree.unlock(a);
        tree.unlock(a);
        assertEquals(0, a.locks());
        assertEquals(0, three.locks());
        assertEquals(1, head.locks());
        assertEquals(2, tree.evictableTokens());
        tree.unlock(b);
        assertEquals(0, head.locks());
        assertEquals(6, tree.evictableTokens());
        assertThrows(IllegalStateException.class, () -> tree.unlock(b));
        tree.lock(tree.root());
        assertEquals(1, tree.root().locks());
    }

    private static int[] sorted(int[] v) {
        int[] c = v.clone();
        java.util.Arrays.sort(c);
        return c;
    }
}
