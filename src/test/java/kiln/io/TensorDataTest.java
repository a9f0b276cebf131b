package kiln.io;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** A tensor-parallel rank's part of a stored tensor: rows are a view of the same bytes, columns a copy of the part. */
class TensorDataTest {
    private static TensorData matrix(Arena arena, int rows, int cols) {
        MemorySegment m = arena.allocate((long) rows * cols);
        for (int i = 0; i < rows * cols; i++) m.set(ValueLayout.JAVA_BYTE, i, (byte) i);
        return new TensorData("w", DType.F8_E4M3, new long[]{rows, cols}, m, "test");
    }

    @Test
    void rowsAreAViewAndColumnsACopyOfJustThePart() {
        try (Arena arena = Arena.ofConfined()) {
            TensorData t = matrix(arena, 4, 6);
            TensorData rows = t.rows(1, 2);
            assertArrayEquals(new long[]{2, 6}, rows.shape());
            assertEquals(t.data().address() + 6, rows.data().address(), "rows are the same bytes");
            assertEquals(12, rows.data().byteSize());

            TensorData cols = t.columns(2, 3, arena);
            assertArrayEquals(new long[]{4, 3}, cols.shape());
            assertEquals(12, cols.data().byteSize());
            byte[] got = cols.data().toArray(ValueLayout.JAVA_BYTE);
            assertArrayEquals(new byte[]{2, 3, 4, 8, 9, 10, 14, 15, 16, 20, 21, 22}, got);

            TensorData vector = new TensorData("b", DType.F32, new long[]{4}, arena.allocateFrom(ValueLayout.JAVA_FLOAT, 1, 2, 3, 4), "test");
            assertArrayEquals(new float[]{3, 4}, vector.rows(2, 2).toFloatArray());
            assertThrows(IllegalArgumentException.class, () -> t.rows(3, 2));
            assertThrows(IllegalArgumentException.class, () -> t.columns(5, 2, arena));
        }
    }
}
