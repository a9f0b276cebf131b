package kiln.backend.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static kiln.backend.cuda.Native.INT;
import static kiln.backend.cuda.Native.LONG;
import static kiln.backend.cuda.Native.PTR;

/**
 * cuBLASLt (libcublasLt.so.13) for the tensor-core GEMMs of bf16 activations: out = x W^T, optionally batched
 * with strides (per-head matrices). cuBLASLt is column-major, so the row-major product is computed as
 * out^T [N x M] = W [K x N]^T . x^T [K x M], i.e. A = W with TRANSA = T, B = x, D = out, all with K or N leading.
 * One plan (descriptors + heuristic algorithm) per shape, made on first use and reused, so a captured CUDA
 * graph replays with no host work; the workspace is a fixed device buffer.
 */
final class CublasLt implements AutoCloseable {
    private static final String LIB = "libcublasLt.so.13";
    static final int CUDA_R_32F = 0, CUDA_R_16BF = 14, CUDA_R_8F_E4M3 = 28;
    private static final int COMPUTE_32F = 68, OP_N = 0, OP_T = 1;
    private static final int DESC_TRANSA = 3, DESC_TRANSB = 4, DESC_A_SCALE_POINTER = 17, DESC_B_SCALE_POINTER = 18;
    private static final int DESC_A_SCALE_MODE = 31, DESC_B_SCALE_MODE = 32, SCALE_VEC128_32F = 4, SCALE_BLK128X128_32F = 5;
    private static final int LAYOUT_BATCH_COUNT = 5, LAYOUT_STRIDED_BATCH_OFFSET = 6;
    private static final int PREF_MAX_WORKSPACE_BYTES = 1;
    private static final int HEURISTIC_RESULT_BYTES = 96;  // cublasLtMatmulAlgo_t (64) + size_t + int + float + int[4]
    /** Answers asked of the heuristic per block-scaled FP8 shape: the first is used, the rest are there for {@link #fp8Algos}. */
    private static final int CANDIDATES = 8;
    private static final int CONFIG_TILE_ID = 1, CONFIG_SPLITK_NUM = 2, CONFIG_STAGES_ID = 6, CONFIG_CLUSTER_SHAPE_ID = 8;

    private static final class H {
        static SymbolLookup lib;
        static String error;
        static MethodHandle create, destroy, descCreate, descSet, descDestroy, layoutCreate, layoutSet, layoutDestroy,
                prefCreate, prefSet, prefDestroy, heuristic, matmul, algoConfigGet, statusName;

        static {
            try {
                lib = SymbolLookup.libraryLookup(LIB, Arena.global());
                create = Native.require(lib, LIB, "cublasLtCreate", PTR);
                destroy = Native.require(lib, LIB, "cublasLtDestroy", PTR);
                descCreate = Native.require(lib, LIB, "cublasLtMatmulDescCreate", PTR, INT, INT);
                descSet = Native.require(lib, LIB, "cublasLtMatmulDescSetAttribute", PTR, INT, PTR, LONG);
                descDestroy = Native.require(lib, LIB, "cublasLtMatmulDescDestroy", PTR);
                layoutCreate = Native.require(lib, LIB, "cublasLtMatrixLayoutCreate", PTR, INT, LONG, LONG, LONG);
                layoutSet = Native.require(lib, LIB, "cublasLtMatrixLayoutSetAttribute", PTR, INT, PTR, LONG);
                layoutDestroy = Native.require(lib, LIB, "cublasLtMatrixLayoutDestroy", PTR);
                prefCreate = Native.require(lib, LIB, "cublasLtMatmulPreferenceCreate", PTR);
                prefSet = Native.require(lib, LIB, "cublasLtMatmulPreferenceSetAttribute", PTR, INT, PTR, LONG);
                prefDestroy = Native.require(lib, LIB, "cublasLtMatmulPreferenceDestroy", PTR);
                heuristic = Native.require(lib, LIB, "cublasLtMatmulAlgoGetHeuristic", PTR, PTR, PTR, PTR, PTR, PTR, PTR, INT, PTR, PTR);
                matmul = Native.require(lib, LIB, "cublasLtMatmul", PTR, PTR, PTR, LONG, PTR, LONG, PTR, PTR, LONG, PTR, LONG, PTR, PTR, LONG, LONG, PTR);
                algoConfigGet = Native.require(lib, LIB, "cublasLtMatmulAlgoConfigGetAttribute", PTR, INT, PTR, LONG, PTR);
                lib.find("cublasLtGetStatusName").ifPresent(a -> statusName = Native.LINKER.downcallHandle(a,
                        java.lang.foreign.FunctionDescriptor.of(PTR, INT)));
            } catch (IllegalArgumentException | UnsatisfiedLinkError e) {
                error = LIB + " cannot be loaded: " + e.getMessage();
            }
        }
    }

    /** Why cuBLASLt is unusable, or null. */
    static String loadError() {
        return H.error;
    }

    private static void check(int status, String call) {
        if (status == 0) return;
        String name = "cublasStatus " + status;
        if (H.statusName != null) {
            try {
                MemorySegment s = (MemorySegment) H.statusName.invokeExact(status);
                if (!s.equals(MemorySegment.NULL)) name = s.reinterpret(256).getString(0) + " (" + status + ")";
            } catch (Throwable ignored) {
                // keep the number
            }
        }
        throw new CudaException(call + " failed: " + name);
    }

    private final MemorySegment handle;
    private final long workspace, workspaceBytes;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment one, zero;
    private final Map<Key, Plan> plans = new HashMap<>(), fp8Plans = new HashMap<>();

    /** Shape of one matmul: types, sizes, leading dimensions, batch and strides (elements). */
    record Key(int type, int m, int n, int k, long ldx, long ldo, int batch, long xStride, long wStride, long oStride) {}

    /**
     * Descriptors and the heuristic's answers (up to {@link #CANDIDATES} for block-scaled FP8, one otherwise),
     * best-estimated first; empty when it has none for the shape.
     */
    private record Plan(MemorySegment desc, MemorySegment a, MemorySegment b, MemorySegment d, List<Algo> algos) {
        MemorySegment algo() {
            return algos.isEmpty() ? null : algos.getFirst().algo();
        }
    }

    /**
     * One heuristic answer: its rank in cuBLASLt's order, the opaque algorithm, the workspace it wants, its estimated
     * waves, and the configuration it reports (tile, stages and cluster shape as cuBLASLt's enum values; split-K parts).
     */
    record Algo(int rank, MemorySegment algo, long workspaceBytes, float waves, int tile, int stages, int splitK, int cluster) {
        @Override
        public String toString() {
            return String.format(java.util.Locale.ROOT, "#%d tile %d stages %d cluster %d split-k %d ws %d KiB waves %.2f", rank, tile, stages, cluster,
                    splitK, workspaceBytes >> 10, waves);
        }
    }

    CublasLt(long workspace, long workspaceBytes) {
        if (H.error != null) throw new CudaException(H.error);
        this.workspace = workspace;
        this.workspaceBytes = workspaceBytes;
        try {
            MemorySegment h = arena.allocate(PTR);
            check((int) H.create.invokeExact(h), "cublasLtCreate");
            handle = h.get(PTR, 0);
        } catch (Throwable t) {
            throw Driver.rethrow(t, "cublasLtCreate");
        }
        one = arena.allocate(Native.FLOAT);
        one.set(Native.FLOAT, 0, 1f);
        zero = arena.allocate(Native.FLOAT);
        zero.set(Native.FLOAT, 0, 0f);
    }

    /**
     * out[b] = x[b] W[b]^T for b < batch, x [m, k] (ld ldx), W [n, k] contiguous, out [m, n] (ld ldo); all of
     * element type {@code type}. Returns false when cuBLASLt has no algorithm for the shape (the caller falls back).
     */
    boolean matmul(Key key, long x, long w, long out, MemorySegment stream) {
        Plan p = plans.get(key);
        if (p == null) {
            p = plan(key);
            plans.put(key, p);
        }
        if (p.algo() == null) return false;
        try {
            check((int) H.matmul.invokeExact(handle, p.desc, one, w, p.a, x, p.b, zero, out, p.d, out, p.d, p.algo(),
                    workspace, workspaceBytes, stream), "cublasLtMatmul(" + key + ")");
        } catch (Throwable t) {
            throw Driver.rethrow(t, "cublasLtMatmul");
        }
        return true;
    }

    /**
     * DeepSeek's FP8 GEMM on cuBLASLt's block scaling (CUDA 12.9+ on sm_90): out [m, n] (bf16) = xq [m, k] (fp8,
     * one float scale per row and 128 columns) times W [n, k] (fp8, one float scale per 128 x 128 block)^T.
     * Returns false when cuBLASLt has no algorithm for it.
     */
    boolean fp8Matmul(Key key, long xq, long xScales, long w, long wScales, long out, MemorySegment stream) {
        return fp8Matmul(key, 0, xq, xScales, w, wScales, out, stream);
    }

    /** The block-scaled FP8 algorithms cuBLASLt's heuristic offers for key, best-estimated first (benchmarks time them). */
    List<Algo> fp8Algos(Key key) {
        return fp8Plan(key).algos;
    }

    /** {@link #fp8Matmul} with the heuristic's answer of rank {@code rank} rather than its first; false past its answers. */
    boolean fp8Matmul(Key key, int rank, long xq, long xScales, long w, long wScales, long out, MemorySegment stream) {
        Plan p = fp8Plan(key);
        if (rank >= p.algos.size()) return false;
        try (Arena tmp = Arena.ofConfined()) {
            setPointer(p.desc, DESC_A_SCALE_POINTER, wScales, tmp);
            setPointer(p.desc, DESC_B_SCALE_POINTER, xScales, tmp);
            check((int) H.matmul.invokeExact(handle, p.desc, one, w, p.a, xq, p.b, zero, out, p.d, out, p.d, p.algos.get(rank).algo(),
                    workspace, workspaceBytes, stream), "cublasLtMatmul(fp8 block-scaled " + key + ")");
        } catch (Throwable t) {
            throw Driver.rethrow(t, "cublasLtMatmul");
        }
        return true;
    }

    private Plan fp8Plan(Key key) {
        Plan p = fp8Plans.get(key);
        if (p == null) {
            p = plan(key, true);
            fp8Plans.put(key, p);
        }
        return p;
    }

    private Plan plan(Key k) {
        return plan(k, false);
    }

    private Plan plan(Key k, boolean fp8) {
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment slot = tmp.allocate(PTR);
            check((int) H.descCreate.invokeExact(slot, COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
            MemorySegment desc = slot.get(PTR, 0);
            setDesc(desc, DESC_TRANSA, OP_T, tmp);
            setDesc(desc, DESC_TRANSB, OP_N, tmp);
            int in = fp8 ? CUDA_R_8F_E4M3 : k.type;
            if (fp8) {
                setDesc(desc, DESC_A_SCALE_MODE, SCALE_BLK128X128_32F, tmp);
                setDesc(desc, DESC_B_SCALE_MODE, SCALE_VEC128_32F, tmp);
                setPointer(desc, DESC_A_SCALE_POINTER, workspace, tmp);
                setPointer(desc, DESC_B_SCALE_POINTER, workspace, tmp);
            }
            MemorySegment a = layout(in, k.k, k.n, k.k, k.batch, k.wStride, tmp);
            MemorySegment b = layout(in, k.k, k.m, k.ldx, k.batch, k.xStride, tmp);
            MemorySegment d = layout(k.type, k.n, k.m, k.ldo, k.batch, k.oStride, tmp);
            check((int) H.prefCreate.invokeExact(slot), "cublasLtMatmulPreferenceCreate");
            MemorySegment pref = slot.get(PTR, 0);
            MemorySegment ws = tmp.allocate(LONG);
            ws.set(LONG, 0, workspaceBytes);
            check((int) H.prefSet.invokeExact(pref, PREF_MAX_WORKSPACE_BYTES, ws, 8L), "cublasLtMatmulPreferenceSetAttribute");
            int requested = fp8 ? CANDIDATES : 1;
            MemorySegment results = tmp.allocate((long) HEURISTIC_RESULT_BYTES * requested, 8);
            MemorySegment count = tmp.allocate(INT);
            int rc = (int) H.heuristic.invokeExact(handle, desc, a, b, d, d, pref, requested, results, count);
            check((int) H.prefDestroy.invokeExact(pref), "cublasLtMatmulPreferenceDestroy");
            List<Algo> algos = new java.util.ArrayList<>();
            for (int i = 0; rc == 0 && i < count.get(INT, 0); i++) {
                MemorySegment r = results.asSlice((long) i * HEURISTIC_RESULT_BYTES, HEURISTIC_RESULT_BYTES);
                if (r.get(INT, 72) != 0) continue;
                MemorySegment algo = arena.allocate(64, 8);
                algo.copyFrom(r.asSlice(0, 64));
                algos.add(new Algo(algos.size(), algo, r.get(LONG, 64), r.get(Native.FLOAT, 76), config(algo, CONFIG_TILE_ID, tmp),
                        config(algo, CONFIG_STAGES_ID, tmp), config(algo, CONFIG_SPLITK_NUM, tmp), config(algo, CONFIG_CLUSTER_SHAPE_ID, tmp)));
            }
            if (algos.isEmpty()) {
                kiln.Log.warn("cuBLASLt has no %salgorithm for %s (status %d, %d results); using Kiln's own GEMM", fp8 ? "block-scaled FP8 " : "",
                        k, rc, count.get(INT, 0));
            }
            return new Plan(desc, a, b, d, List.copyOf(algos));
        } catch (Throwable t) {
            throw Driver.rethrow(t, "cuBLASLt plan for " + k);
        }
    }

    /** One integer attribute of an algorithm's configuration, -1 where cuBLASLt does not say. */
    private static int config(MemorySegment algo, int attr, Arena tmp) throws Throwable {
        MemorySegment v = tmp.allocate(INT), written = tmp.allocate(LONG);
        return (int) H.algoConfigGet.invokeExact(algo, attr, v, 4L, written) == 0 ? v.get(INT, 0) : -1;
    }

    private static void setDesc(MemorySegment desc, int attr, int value, Arena tmp) throws Throwable {
        MemorySegment v = tmp.allocate(INT);
        v.set(INT, 0, value);
        check((int) H.descSet.invokeExact(desc, attr, v, 4L), "cublasLtMatmulDescSetAttribute(" + attr + ")");
    }

    private static void setPointer(MemorySegment desc, int attr, long pointer, Arena tmp) throws Throwable {
        MemorySegment v = tmp.allocate(LONG);
        v.set(LONG, 0, pointer);
        check((int) H.descSet.invokeExact(desc, attr, v, 8L), "cublasLtMatmulDescSetAttribute(" + attr + ")");
    }

    private static MemorySegment layout(int type, long rows, long cols, long ld, int batch, long stride, Arena tmp) throws Throwable {
        MemorySegment slot = tmp.allocate(PTR);
        check((int) H.layoutCreate.invokeExact(slot, type, rows, cols, ld), "cublasLtMatrixLayoutCreate(" + rows + "x" + cols + ", ld " + ld + ")");
        MemorySegment l = slot.get(PTR, 0);
        if (batch > 1) {
            MemorySegment c = tmp.allocate(INT);
            c.set(INT, 0, batch);
            check((int) H.layoutSet.invokeExact(l, LAYOUT_BATCH_COUNT, c, 4L), "cublasLtMatrixLayoutSetAttribute(BATCH_COUNT)");
            MemorySegment s = tmp.allocate(LONG);
            s.set(LONG, 0, stride);
            check((int) H.layoutSet.invokeExact(l, LAYOUT_STRIDED_BATCH_OFFSET, s, 8L), "cublasLtMatrixLayoutSetAttribute(STRIDED_BATCH_OFFSET)");
        }
        return l;
    }

    @Override
    public void close() {
        try {
            for (Map<Key, Plan> m : List.of(plans, fp8Plans)) {
                for (Plan p : m.values()) {
                    check((int) H.layoutDestroy.invokeExact(p.a), "cublasLtMatrixLayoutDestroy");
                    check((int) H.layoutDestroy.invokeExact(p.b), "cublasLtMatrixLayoutDestroy");
                    check((int) H.layoutDestroy.invokeExact(p.d), "cublasLtMatrixLayoutDestroy");
                    check((int) H.descDestroy.invokeExact(p.desc), "cublasLtMatmulDescDestroy");
                }
                m.clear();
            }
            check((int) H.destroy.invokeExact(handle), "cublasLtDestroy");
        } catch (Throwable t) {
            throw Driver.rethrow(t, "cublasLt close");
        } finally {
            arena.close();
        }
    }
}
