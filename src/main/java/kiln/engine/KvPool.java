package kiln.engine;

import java.util.Arrays;
import java.util.stream.IntStream;

/**
 * Free KV slots of the backend's cache, as a stack of slot indices. Owned by the scheduler thread: no locking.
 */
final class KvPool {
    private final int[] free;
    private int top;

    KvPool(int slots) {
        free = new int[slots];
        for (int i = 0; i < slots; i++) free[i] = slots - 1 - i;
        top = slots;
    }

    int capacity() {
        return free.length;
    }

    int available() {
        return top;
    }

    /** {@code n} slots, or null when fewer are free (nothing is taken then). */
    int[] allocate(int n) {
        if (n > top) return null;
        int[] out = new int[n];
        for (int i = 0; i < n; i++) out[i] = free[--top];
        return out;
    }

    void release(int[] slots, int from, int to) {
        for (int i = from; i < to; i++) free[top++] = slots[i];
    }

    void release(int[] slots) {
        release(slots, 0, slots.length);
    }

    /** The free slots in stack order (the last is handed out first), for the integrity check. */
    IntStream freeSlots() {
        return Arrays.stream(free, 0, top);
    }
}
