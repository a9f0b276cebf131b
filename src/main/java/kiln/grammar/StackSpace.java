package kiln.grammar;

import java.util.Arrays;

/**
 * Runs the pushdown automaton of an {@link Automaton} on bytes, as a lazily built DFA over sets of stacks.
 *
 * <p>A <b>frame</b> is (state, parent frame): the top of a stack, whose parent holds the state to return to when
 * the top's rule ends. Frames are interned, so a whole stack is one int and equal stacks are equal ints. A
 * <b>stack set</b> is the sorted set of frames the grammar may be in after some text (ambiguity keeps several), each
 * with its state having byte edges, plus an end flag: some stack has popped past its bottom (at run time: the
 * whole output may end here; when classifying tokens for one state: the state's rule has ended). Sets are
 * interned too; {@link #step} memoizes set x byte class -> set, so a byte costs one array read once seen.
 *
 * <p>Not thread-safe: each matcher and each compilation owns one.
 */
final class StackSpace {
    static final int BOTTOM = -1;
    /** The empty set: no stack survives. */
    static final int DEAD = 0;

    private final Automaton a;
    private final byte[] byteClass;
    private final int classCount;

    private int[] fState = new int[64], fParent = new int[64];
    private int frames;
    private int[] fTable = new int[128];

    private int[] sData = new int[256];
    private int sDataLen;
    private int[] sStart = new int[64], sLen = new int[64], sHash = new int[64];
    private boolean[] sEnd = new boolean[64];
    private int sets;
    private int[] sTable = new int[128];
    private int[][] rows = new int[64][];
    private int[] popMemo = new int[64];

    private int[] stamp = new int[64];
    private int epoch;
    private final IntList work = new IntList(), out = new IntList();
    private boolean outEnd;

    StackSpace(Automaton a) {
        this.a = a;
        this.byteClass = a.byteClass;
        this.classCount = a.classCount;
        intern(new int[0], 0, false);
    }

    int frameCount(int set) {
        return sLen[set];
    }

    int frame(int set, int i) {
        return sData[sStart[set] + i];
    }

    boolean canEnd(int set) {
        return sEnd[set];
    }

    int state(int frame) {
        return fState[frame];
    }

    int parent(int frame) {
        return fParent[frame];
    }

    int sets() {
        return sets;
    }

    /** The set after {@code b}: DEAD when no stack can take it. */
    int step(int set, int b) {
        int[] row = rows[set];
        if (row == null) rows[set] = row = new int[classCount];
        int c = byteClass[b];
        int v = row[c];
        if (v != 0) return v - 1;
        int t = computeStep(set, b);
        row[c] = t + 1;
        return t;
    }

    /** The set after all of {@code bytes}, or DEAD. */
    int walk(int set, byte[] bytes) {
        for (int i = 0; i < bytes.length && set != DEAD; i++) set = step(set, bytes[i] & 0xFF);
        return set;
    }

    /** Where a whole output starts: the root rule's start, expanded. */
    int startSet(int rootState) {
        begin();
        close(rootState, BOTTOM);
        return finish();
    }

    /**
     * Only state {@code s}, with nothing below it and its calls not expanded: what a token is matched against to
     * classify it for {@code s} alone (the calls and the end of {@code s} are other frames of a run-time set).
     */
    int positionSet(int s) {
        return intern(new int[] {internFrame(s, BOTTOM)}, 1, false);
    }

    /** The set after the rule of a top frame ends: its parent frame, resumed and expanded. */
    int popSet(int parentFrame) {
        if (popMemo[parentFrame] != 0) return popMemo[parentFrame] - 1;
        begin();
        close(fState[parentFrame], fParent[parentFrame]);
        int s = finish();
        popMemo[parentFrame] = s + 1;
        return s;
    }

    /** Both sets' stacks together. */
    int union(int x, int y) {
        begin();
        for (int set : new int[] {x, y}) {
            for (int i = 0; i < sLen[set]; i++) {
                int f = sData[sStart[set] + i];
                if (stamp[f] != epoch) {
                    stamp[f] = epoch;
                    out.add(f);
                }
            }
            outEnd |= sEnd[set];
        }
        return finish();
    }

    private int computeStep(int set, int b) {
        begin();
        for (int i = sStart[set], end = i + sLen[set]; i < end; i++) {
            int f = sData[i];
            int t = a.target(fState[f], b);
            if (t >= 0) close(t, fParent[f]);
        }
        return finish();
    }

    private void begin() {
        epoch++;
        out.clear();
        outEnd = false;
    }

    private int finish() {
        int[] fs = out.toArray();
        Arrays.sort(fs);
        return intern(fs, fs.length, outEnd);
    }

    /**
     * Adds (state, parent) and everything reachable from it without a byte: the rules it calls (pushed, returning
     * to the call's target) and, when its rule may end here, the parent resumed (or the end flag at the bottom).
     */
    private void close(int state, int parent) {
        work.clear();
        work.add(state, parent);
        while (work.size() > 0) {
            int n = work.size();
            int t = work.get(n - 2), p = work.get(n - 1);
            work.truncate(n - 2);
            int f = internFrame(t, p);
            if (stamp[f] == epoch) continue;
            stamp[f] = epoch;
            if (a.hasBytes(t)) out.add(f);
            for (int i = a.callStart[t], end = a.callStart[t + 1]; i < end; i++) {
                int ret = internFrame(a.callTo[i], p);
                work.add(a.ruleStart[a.callRule[i]], ret);
            }
            if (a.accepting[t]) {
                if (p == BOTTOM) outEnd = true;
                else work.add(fState[p], fParent[p]);
            }
        }
    }

    int internFrame(int state, int parent) {
        int h = mix(state * 31 + parent);
        int mask = fTable.length - 1;
        for (int i = h & mask; ; i = (i + 1) & mask) {
            int id = fTable[i] - 1;
            if (id < 0) {
                id = frames++;
                if (id == fState.length) {
                    int n = id * 2;
                    fState = Arrays.copyOf(fState, n);
                    fParent = Arrays.copyOf(fParent, n);
                    stamp = Arrays.copyOf(stamp, n);
                    popMemo = Arrays.copyOf(popMemo, n);
                }
                fState[id] = state;
                fParent[id] = parent;
                fTable[i] = id + 1;
                if (frames * 2 > fTable.length) rehashFrames();
                return id;
            }
            if (fState[id] == state && fParent[id] == parent) return id;
        }
    }

    private void rehashFrames() {
        fTable = new int[fTable.length * 2];
        int mask = fTable.length - 1;
        for (int id = 0; id < frames; id++) {
            int i = mix(fState[id] * 31 + fParent[id]) & mask;
            while (fTable[i] != 0) i = (i + 1) & mask;
            fTable[i] = id + 1;
        }
    }

    private int intern(int[] fs, int n, boolean end) {
        int h = end ? 0x5bd1e995 : 0;
        for (int i = 0; i < n; i++) h = h * 0x01000193 + fs[i];
        h = mix(h);
        int mask = sTable.length - 1;
        for (int i = h & mask; ; i = (i + 1) & mask) {
            int id = sTable[i] - 1;
            if (id < 0) {
                id = sets++;
                if (id == sStart.length) {
                    int m = id * 2;
                    sStart = Arrays.copyOf(sStart, m);
                    sLen = Arrays.copyOf(sLen, m);
                    sHash = Arrays.copyOf(sHash, m);
                    sEnd = Arrays.copyOf(sEnd, m);
                    rows = Arrays.copyOf(rows, m);
                }
                if (sDataLen + n > sData.length) sData = Arrays.copyOf(sData, Math.max(sData.length * 2, sDataLen + n));
                System.arraycopy(fs, 0, sData, sDataLen, n);
                sStart[id] = sDataLen;
                sLen[id] = n;
                sHash[id] = h;
                sEnd[id] = end;
                sDataLen += n;
                sTable[i] = id + 1;
                if (sets * 2 > sTable.length) rehashSets();
                return id;
            }
            if (sHash[id] == h && sEnd[id] == end && sLen[id] == n
                    && Arrays.equals(sData, sStart[id], sStart[id] + n, fs, 0, n)) return id;
        }
    }

    private void rehashSets() {
        sTable = new int[sTable.length * 2];
        int mask = sTable.length - 1;
        for (int id = 0; id < sets; id++) {
            int i = sHash[id] & mask;
            while (sTable[i] != 0) i = (i + 1) & mask;
            sTable[i] = id + 1;
        }
    }

    private static int mix(int h) {
        h ^= h >>> 16;
        h *= 0x85ebca6b;
        h ^= h >>> 13;
        return h;
    }
}
