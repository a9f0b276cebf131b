package kiln.backend.cuda;

import kiln.io.DType;

/**
 * Launchers of elementwise.cuh's entry points: row-wise kernels (embedding, norms, adds, SwiGLU, ropes, KV stores,
 * gathers, conversions, sampling). Each method's argument list is the kernel's, in its order; every tensor is a
 * pointer and a leading dimension in elements. {@code act} picks the activation type (_f32 / _bf16).
 */
final class ElementwiseKernels {
    /** elementwise.cuh's ROPE_MAX_HALF, and the block size of the rope kernels. */
    static final int ROPE_MAX_HALF = 256, ROPE_THREADS = 256;
    /** rmsnorm_vec: 16-byte vectors per thread (RMSNORM_VEC) and the most threads per row. */
    private static final int RMSNORM_VEC = 2, RMSNORM_VEC_MAX_THREADS = 1024;

    /** A set of heads to rotate: {@code heads} heads of 2 x half columns, head h at column offset + h * stride of each row. */
    record RopeHeads(long x, long ld, int heads, int stride, int offset) {}

    /** The rotation: each row's position, {@code half} inverse frequencies, YaRN's attention factor, the pair layout. */
    record RopeTable(long positions, long invFreq, int half, float factor, boolean interleaved) {}

    private final KernelLauncher k;

    ElementwiseKernels(KernelLauncher k) {
        this.k = k;
    }

    static String act(Precision p) {
        return p.suffix;
    }

    /** out[t] = table[tokens[t]] for {@code rows} tokens; the table is bf16 or f32. */
    void embed(Precision act, DType table, long tablePtr, long tokens, int hidden, long out, long ldo, int rows) {
        String w = switch (table) {
            case BF16 -> "wbf16";
            case F32 -> "wf32";
            default -> throw new IllegalArgumentException("embedding of " + table + " is not supported on CUDA");
        };
        k.fn("embed_" + w + "_" + act(act)).ptr(tablePtr).ptr(tokens).i32(hidden).ptr(out).i64(ldo).launch(rows, 256);
    }

    /** x += delta (when delta != 0), then out = x / rms(x) * w, per row. */
    void rmsnorm(Precision act, long x, long ldx, long delta, long ldd, long w, float eps, long out, long ldo, int cols, int rows) {
        k.fn("rmsnorm_" + act(act)).ptr(x).i64(ldx).ptr(delta).i64(ldd).ptr(w).f32(eps).ptr(out).i64(ldo).i32(cols).launch(rows, 256);
    }

    /** Can rmsnorm_vec take rows of {@code cols} bf16 values (whole 16-byte vectors, at most two per thread)? */
    static boolean rmsnormVecFits(int cols) {
        return cols % 8 == 0 && cols / 8 <= RMSNORM_VEC * RMSNORM_VEC_MAX_THREADS;
    }

    /** rmsnorm in bf16 with 16-byte vectors: all of a row's loads in flight at once, a block just large enough. */
    void rmsnormVec(long x, long ldx, long delta, long ldd, long w, float eps, long out, long ldo, int cols, int rows) {
        int vectors = cols / 8;
        int threads = Math.min(RMSNORM_VEC_MAX_THREADS, Math.max(32, ceilDiv(ceilDiv(vectors, RMSNORM_VEC), 32) * 32));
        k.fn("rmsnorm_vec_bf16").ptr(x).i64(ldx).ptr(delta).i64(ldd).ptr(w).f32(eps).ptr(out).i64(ldo).i32(cols).launch(rows, threads);
    }

    /** acc += x. */
    void add(Precision act, long acc, long lda, long x, long ldx, int cols, int rows) {
        k.fn("add_" + act(act)).ptr(acc).i64(lda).ptr(x).i64(ldx).i32(cols).launch(rows, 256);
    }

    /** out += bias (float) per row. */
    void addBias(Precision act, long out, long ldo, long bias, int cols, int rows) {
        k.fn("add_bias_" + act(act)).ptr(out).i64(ldo).ptr(bias).i32(cols).launch(rows, 256);
    }

    /** out = silu(g) * u. */
    void siluMul(Precision act, long g, long ldg, long u, long ldu, long out, long ldo, int cols, int rows) {
        k.fn("silu_mul_" + act(act)).ptr(g).i64(ldg).ptr(u).i64(ldu).ptr(out).i64(ldo).i32(cols).launch(rows, 256);
    }

    /** Blocks per row of a rope over {@code heads} heads: about one (head, pair) item per thread, at most 64. */
    static int ropeParts(int heads, int half) {
        if (half > ROPE_MAX_HALF) throw new IllegalArgumentException("rope dimension " + 2 * half + " exceeds the kernel's " + 2 * ROPE_MAX_HALF);
        return Math.max(1, Math.min(64, ceilDiv(heads * half, ROPE_THREADS)));
    }

    /** Rotates one head set in place, {@code rows} rows. */
    void rope(Precision act, RopeHeads x, RopeTable t, int rows) {
        KernelLauncher.Launch l = k.fn("rope_" + act(act)).ptr(x.x()).i64(x.ld()).i32(x.heads()).i32(x.stride()).i32(x.offset());
        table(l, t).launch(rows, 1, ropeParts(x.heads(), t.half()), ROPE_THREADS, 0);
    }

    /** Rotates two head sets of the same rows in one launch (MLA's query and key parts). */
    void rope2(Precision act, RopeHeads a, RopeHeads b, RopeTable t, int rows) {
        pair(k.fn("rope2_" + act(act)), a, b, t).launch(rows, 2, ropeParts(Math.max(a.heads(), b.heads()), t.half()), ROPE_THREADS, 0);
    }

    /** rope2's arguments (two head sets, then the table), which the fused MLA kernels start with too. */
    static KernelLauncher.Launch pair(KernelLauncher.Launch l, RopeHeads a, RopeHeads b, RopeTable t) {
        l.ptr(a.x()).i64(a.ld()).i32(a.heads()).i32(a.stride()).i32(a.offset()).ptr(b.x()).i64(b.ld()).i32(b.heads()).i32(b.stride()).i32(b.offset());
        return table(l, t);
    }

    private static KernelLauncher.Launch table(KernelLauncher.Launch l, RopeTable t) {
        return l.ptr(t.positions()).ptr(t.invFreq()).i32(t.half()).f32(t.factor()).i32(t.interleaved() ? 1 : 0);
    }

    /** cache[slots[t]][at, at + cols) = src[t] for {@code rows} new tokens; {@code entry} values per cache slot. */
    void kvStore(Precision act, long src, long lds, int cols, long slots, long cache, long entry, int at, int rows) {
        k.fn("kv_store_" + act(act)).ptr(src).i64(lds).i32(cols).ptr(slots).ptr(cache).i64(entry).i32(at).launch(rows, 128);
    }

    /** cache[slots[t]] = [a[t] | b[t]] (MLA's latent and rope key) in one launch, into a cache of {@code cacheType}. */
    void kvStore2(Precision act, DType cacheType, long a, long lda, int colsA, long b, long ldb, int colsB, long slots, long cache, long entry, int rows) {
        k.fn("kv_store2_" + act(act) + CudaKvCache.kernelSuffix(cacheType)).ptr(a).i64(lda).i32(colsA).ptr(b).i64(ldb).i32(colsB).ptr(slots).ptr(cache).i64(entry).launch(rows, 128);
    }

    /** out[i] = src[index[i]] for {@code rows} rows, blocks of {@code threads}. */
    void gatherRows(Precision act, long src, long lds, long index, int cols, long out, long ldo, int rows, int threads) {
        k.fn("gather_rows_" + act(act)).ptr(src).i64(lds).ptr(index).i32(cols).ptr(out).i64(ldo).launch(rows, threads);
    }

    /** gatherRows out of a KV cache of {@code cacheType} (an FP8 cache widened to the activation type). */
    void gatherKv(Precision act, DType cacheType, long src, long lds, long index, int cols, long out, long ldo, int rows, int threads) {
        k.fn("gather_rows_" + act(act) + CudaKvCache.kernelSuffix(cacheType)).ptr(src).i64(lds).ptr(index).i32(cols).ptr(out).i64(ldo).launch(rows, threads);
    }

    /** out[i] = src[index[i] / div] (MoE: a token's row for each of its expert choices). */
    void gatherRowsDiv(Precision act, long src, long lds, long index, int div, int cols, long out, long ldo, int rows) {
        k.fn("gather_rows_div_" + act(act)).ptr(src).i64(lds).ptr(index).i32(div).i32(cols).ptr(out).i64(ldo).launch(rows, 256);
    }

    /** Packed float rows from activations of type {@code from}. */
    void toF32(DType from, long src, long lds, int cols, long out, int rows) {
        k.fn("to_f32_" + (from == DType.BF16 ? "bf16" : "f32")).ptr(src).i64(lds).i32(cols).ptr(out).launch(rows, 256);
    }

    /** Activation rows from packed floats. */
    void fromF32(Precision act, long src, int cols, long out, long ldo, int rows) {
        k.fn("from_f32_" + act(act)).ptr(src).i32(cols).ptr(out).i64(ldo).launch(rows, 256);
    }

    /** Per row, the index of the largest value (lowest on ties). */
    void argmax(Precision act, long x, long ldx, int cols, long out, int rows) {
        k.fn("argmax_" + act(act)).ptr(x).i64(ldx).i32(cols).ptr(out).launch(rows, 256);
    }

    /** tokens[i] = previous[-1 - tokens[i]] where tokens[i] < 0 (ForwardBatch's future tokens), {@code n} tokens. */
    void resolveFutureTokens(long tokens, long previous, int n) {
        k.fn("resolve_future_tokens").ptr(tokens).ptr(previous).i32(n).launch(ceilDiv(n, 256), 256);
    }

    /** One token per row by temperature, top-k, top-p and a caller-drawn uniform (Backend.sample's definition). */
    void sample(Precision act, long x, long ldx, int cols, long temperature, long topK, long topP, long uniform, long out, int rows) {
        k.fn("sample_" + act(act)).ptr(x).i64(ldx).i32(cols).ptr(temperature).ptr(topK).ptr(topP).ptr(uniform).ptr(out).launch(rows, 1024);
    }

    /** A bf16 copy of an fp8 weight (rows x cols) with its block scales applied. */
    void dequantFp8(long w, long scales, int scaleCols, int blockRows, int blockCols, long out, int cols, int rows) {
        k.fn("dequant_fp8_bf16").ptr(w).ptr(scales).i32(scaleCols).i32(blockRows).i32(blockCols).ptr(out).i32(cols).launch(rows, 256);
    }

    /**
     * bf16 rows to fp8 with one float scale per 128 columns (cuBLASLt's block-scaled FP8 GEMM input); the scales
     * row-fastest ({@code mMajor}) or column-block-fastest. Rows from {@code valid} to {@code rows} are padding: zero
     * codes, x is not read there.
     */
    void quantFp8(long x, long ldx, int cols, long q, long scales, int rows, int valid, boolean mMajor) {
        if (valid < 1 || valid > rows) throw new IllegalArgumentException("quant_fp8: " + valid + " valid rows of " + rows);
        // a warp per 128-column group, four per block (QUANT_FP8_WARPS in elementwise.cuh)
        k.fn("quant_fp8_bf16").ptr(x).i64(ldx).i32(cols).ptr(q).ptr(scales).i32(rows).i32(valid).i32(mMajor ? 1 : 0)
                .launch(rows, ceilDiv(ceilDiv(cols, 128), 4), 1, 128, 0);
    }

    /** out[r] = src[r] for bf16 rows (the valid rows of a padded result). */
    void copyRows(long src, long lds, int cols, long out, long ldo, int rows) {
        k.fn("copy_rows_bf16").ptr(src).i64(lds).i32(cols).ptr(out).i64(ldo).launch(rows, ceilDiv(cols, 2048), 1, 256, 0);
    }

    static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }
}
