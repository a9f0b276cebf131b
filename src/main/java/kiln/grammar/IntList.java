package kiln.grammar;

import java.util.Arrays;

/** A growable int array (states, token ids, edge tuples) without boxing. */
final class IntList {
    private int[] data;
    private int size;

    IntList() {
        this(8);
    }

    IntList(int capacity) {
        data = new int[Math.max(4, capacity)];
    }

    void add(int v) {
        if (size == data.length) data = Arrays.copyOf(data, data.length * 2);
        data[size++] = v;
    }

    void add(int v, int w) {
        add(v);
        add(w);
    }

    void add(int v, int w, int x) {
        add(v);
        add(w);
        add(x);
    }

    int get(int i) {
        return data[i];
    }

    void set(int i, int v) {
        data[i] = v;
    }

    int size() {
        return size;
    }

    void clear() {
        size = 0;
    }

    /** Drops the values from {@code newSize} on (a stack's pop). */
    void truncate(int newSize) {
        size = newSize;
    }

    int[] toArray() {
        return Arrays.copyOf(data, size);
    }
}
