package kiln.engine;

import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** The free-slot stack on its own: allocation, exhaustion and release. */
class KvPoolTest {
    @Test
    void allocatesDistinctSlotsAndTakesNothingWhenShort() {
        KvPool pool = new KvPool(4);
        assertEquals(4, pool.capacity());
        assertEquals(4, pool.available());
        assertArrayEquals(new int[]{0, 1, 2}, pool.allocate(3));
        assertEquals(1, pool.available());
        assertNull(pool.allocate(2), "allocated more slots than are free");
        assertEquals(1, pool.available(), "a refused allocation took slots");
        assertArrayEquals(new int[]{3}, pool.allocate(1));
        assertEquals(0, pool.available());
        assertNull(pool.allocate(1));
        assertArrayEquals(new int[0], pool.allocate(0));
        assertEquals(4, pool.capacity());
    }

    @Test
    void releaseReturnsExactlyTheGivenRange() {
        KvPool pool = new KvPool(4);
        int[] all = pool.allocate(4);
        pool.release(new int[]{all[2], all[0], all[3]}, 1, 3);
        assertEquals(2, pool.available());
        int[] again = pool.allocate(2);
        // a stack: the slot freed last is handed out first
        assertArrayEquals(new int[]{all[3], all[0]}, again);
        assertNull(pool.allocate(1), "slot " + all[2] + " came back although it was outside the released range");
        pool.release(all);
        assertEquals(4, pool.available());
        int[] everything = pool.allocate(4);
        Arrays.sort(everything);
        assertArrayEquals(new int[]{0, 1, 2, 3}, everything);
    }
}
