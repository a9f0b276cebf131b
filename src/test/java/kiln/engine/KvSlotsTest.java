package kiln.engine;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Slot ownership across the pool, the tree and sequences, step by step as the scheduler drives it. */
class KvSlotsTest {
    private static Sequence seq(String id, int n, int... prompt) {
        return new Sequence(new Request(id, prompt, SamplingParams.builder().maxNewTokens(4).n(n).build()), 0, 0L);
    }

    /** What a prefill of the whole prompt does: start on the cached prefix, compute the rest, cache it. */
    private static void prefill(KvSlots kv, Sequence s) {
        RadixCache.Match m = kv.match(s.tokens, s.length - 1);
        assertTrue(kv.start(s, m, s.length - m.length()));
        kv.computed(s, s.length - m.length());
        kv.cacheUnfinished(s);
    }

    private static void decode(KvSlots kv, Sequence s, int token) {
        assertTrue(kv.allocate(s, 1));
        kv.computed(s, 1);
        s.append(token);
    }

    private static String broken(KvSlots kv, Sequence... live) {
        return assertThrows(IllegalStateException.class, () -> kv.checkIntegrity(List.of(live))).getMessage();
    }

    @Test
    void aCachedPromptIsLockedWhileItRunsSharedByTheNextAndKeptWhenItFinishes() {
        KvSlots kv = new KvSlots(16, true);
        Sequence a = seq("a", 1, 1, 2, 3, 4, 5);
        RadixCache.Match none = kv.match(a.tokens, 4);
        assertEquals(0, none.length());
        assertTrue(kv.start(a, none, 5));
        kv.computed(a, 5);
        assertEquals(5, kv.usedTokens());
        assertEquals(0, a.kv.treeOwned());
        kv.checkIntegrity(List.of(a));
        assertTrue(broken(kv).contains("not the capacity 16"), "a sequence's own slots outside the live set went unnoticed");

        kv.cacheUnfinished(a);
        assertEquals(5, a.kv.treeOwned());
        assertEquals(5, kv.cachedTokens());
        assertEquals(11, kv.available(), "a running sequence's prompt became evictable");
        kv.checkIntegrity(List.of(a));

        Sequence b = seq("b", 1, 1, 2, 3, 9);
        RadixCache.Match shared = kv.match(b.tokens, 3);
        assertEquals(3, shared.length());
        assertTrue(kv.start(b, shared, 1));
        assertArrayEquals(Arrays.copyOf(a.kv.slots(), 3), Arrays.copyOf(b.kv.slots(), 3));
        kv.computed(b, 1);
        kv.checkIntegrity(List.of(a, b));
        assertTrue(broken(kv, a).contains("has 2 locks but 1 live sequences"), "a lock nobody holds went unnoticed");

        kv.release(b, true);
        assertEquals(0, b.kv.computed());
        kv.checkIntegrity(List.of(a));
        assertEquals(6, kv.cachedTokens());
        kv.release(a, true);
        kv.checkIntegrity(List.of());
        assertEquals(0, kv.usedTokens());
        assertEquals(16, kv.available());
        kv.flush();
        assertEquals(0, kv.cachedTokens());
        kv.checkIntegrity(List.of());
    }

    @Test
    void allocationEvictsUnlockedPrefixesAndTakesNothingWhenItFails() {
        KvSlots kv = new KvSlots(8, true);
        Sequence a = seq("a", 1, 1, 2, 3, 4, 5, 6);
        prefill(kv, a);
        kv.release(a, true);
        assertEquals(6, kv.cachedTokens());

        Sequence b = seq("b", 1, 7, 8, 9, 10, 11);
        assertTrue(kv.start(b, kv.match(b.tokens, 4), 5), "eviction did not make room");
        assertEquals(0, kv.cachedTokens());
        kv.computed(b, 5);
        kv.checkIntegrity(List.of(b));

        Sequence c = seq("c", 1, 20, 21, 22, 23);
        assertFalse(kv.start(c, kv.match(c.tokens, 3), 4));
        assertEquals(0, c.kv.computed());
        assertEquals(3, kv.available(), "a failed start kept slots");
        kv.checkIntegrity(List.of(b, c));
        assertFalse(kv.allocate(b, 4));
        kv.checkIntegrity(List.of(b, c));
    }

    @Test
    void aPromptPrefilledTwiceAtOnceEndsOnTheTreesSlotsAndFreesTheCopy() {
        KvSlots kv = new KvSlots(16, true);
        Sequence a = seq("a", 1, 1, 2, 3, 4), b = seq("b", 1, 1, 2, 3, 4);
        assertTrue(kv.start(a, kv.match(a.tokens, 3), 4));
        assertTrue(kv.start(b, kv.match(b.tokens, 3), 4));
        kv.computed(a, 4);
        kv.computed(b, 4);
        assertEquals(8, kv.usedTokens());
        kv.cacheUnfinished(a);
        kv.cacheUnfinished(b);
        assertEquals(4, kv.usedTokens(), "the second copy of the prompt's KV was not freed");
        assertArrayEquals(Arrays.copyOf(a.kv.slots(), 4), Arrays.copyOf(b.kv.slots(), 4));
        assertEquals(4, b.kv.treeOwned());
        kv.checkIntegrity(List.of(a, b));
        kv.release(a, false);
        kv.release(b, false);
        kv.checkIntegrity(List.of());
        assertEquals(4, kv.cachedTokens());
    }

    @Test
    void nSiblingsShareTheParentsPrefillUnderOneLockEach() {
        KvSlots kv = new KvSlots(16, true);
        Sequence a = seq("a", 3, 1, 2, 3, 4);
        prefill(kv, a);
        Sequence one = new Sequence(a.request, 1, 0L), two = new Sequence(a.request, 2, 0L);
        kv.fork(a, one);
        kv.fork(a, two);
        assertArrayEquals(Arrays.copyOf(a.kv.slots(), 4), Arrays.copyOf(two.kv.slots(), 4));
        assertEquals(4, two.kv.treeOwned());
        kv.checkIntegrity(List.of(a, one, two));
        assertTrue(broken(kv, a, one).contains("has 3 locks but 2 live sequences"));

        decode(kv, a, 50);
        decode(kv, one, 51);
        decode(kv, two, 52);
        assertEquals(7, kv.usedTokens());
        kv.checkIntegrity(List.of(a, one, two));
        // an aborted sample frees its own slot; the shared prompt stays, still locked by the others
        kv.release(one, false);
        assertEquals(6, kv.usedTokens());
        kv.checkIntegrity(List.of(a, two));
        kv.release(a, true);
        kv.release(two, true);
        kv.checkIntegrity(List.of());
        assertEquals(0, kv.usedTokens());
        assertEquals(6, kv.cachedTokens());
    }

    @Test
    void withoutThePrefixCacheEverySlotIsTheSequencesOwnAndGoesBackToThePool() {
        KvSlots kv = new KvSlots(8, false);
        Sequence a = seq("a", 1, 1, 2, 3);
        prefill(kv, a);
        assertEquals(0, a.kv.treeOwned());
        assertEquals(3, kv.usedTokens());
        kv.checkIntegrity(List.of(a));
        assertThrows(IllegalStateException.class, () -> kv.fork(a, new Sequence(a.request, 1, 0L)));
        kv.release(a, true);
        assertEquals(0, kv.cachedTokens());
        assertEquals(8, kv.available());
        kv.checkIntegrity(List.of());
    }

    @Test
    void aSlotCountedTwiceIsNamed() {
        KvSlots kv = new KvSlots(8, true);
        Sequence a = seq("a", 1, 1, 2, 3);
        assertTrue(kv.start(a, kv.match(a.tokens, 2), 3));
        kv.computed(a, 3);
        String message = broken(kv, a, a);
        assertTrue(message.matches("slot \\d is in both sequence a#0 and sequence a#0"), message);
        assertThrows(IllegalStateException.class, () -> kv.start(a, kv.match(a.tokens, 2), 1), "started a sequence twice");
    }
}
