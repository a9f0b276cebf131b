package kiln.backend.cuda;

import kiln.backend.ForwardBatch;
import kiln.backend.Tensor;

import java.util.concurrent.Callable;
import java.util.function.Supplier;

/**
 * What the op families of one {@link CudaBackend} share: the device, its switches, the kernel launchers, the
 * activation arena, the current batch's description and host-device transfers. The backend owns it and its
 * families; everything here is touched on the device's thread only.
 * <pre>
 *   CudaBackend ─ one forward's lifecycle (begin, tensors, mark/release), dispatch to:
 *     DeviceWeights   weights uploaded in stored precision, MoE expert tables
 *     Transfers       host <-> device copies, the page-locked bounce buffer, persistent allocations
 *     ElementwiseOps  embedding, norms, residual adds, SwiGLU, ropes, row gathers
 *     LinearLayers    linear, linear pair, SwiGLU's gate/up, per-head matrices: which GEMV / GEMM runs
 *     Fp8GemmProbe    whether cuBLASLt's block-scaled FP8 GEMM works here, and its scale layout
 *     MlaDecode       absorbed MLA: its inputs, the attention kernels, W_UV
 *     MlaPrefill      MHA-form MLA prefill: store + gather of the context, the prefill kernel
 *     PagedAttention  grouped-query attention; MLA where the tensor-core kernels do not apply
 *     MoeLayer        routing, the grouped expert kernels, the per-expert cuBLASLt path, the combine
 *     DeviceSampling  argmax and sampling where the logits are
 * </pre>
 */
final class CudaContext {
    final CudaDevice device;
    final CudaOptions options;
    final CudaFlags flags;
    final Precision precision;
    final Kernels kernels;
    final ElementwiseKernels elementwise;
    final GemmKernels gemm;
    final Gemv2Kernels gemv2;
    final AttentionKernels attention;
    final MlaDecodeKernels mlaDecode;
    final MlaPrefillKernels mlaPrefill;
    final MoeKernels moe;
    final MoeMmaKernels moeMma;
    final MoeStagedKernels moeStaged;
    final LinearMmaKernels linearMma;
    final FusedDecodeKernels fused;
    final CollectiveKernels collective;
    final ActivationArena arena;
    final BatchMeta meta;
    final Transfers transfers;
    /** Per-op device time ({@link CudaFlags#profile}); null otherwise. */
    final OpProfiler profiler;
    /** The forward in progress (set by CudaBackend.begin). */
    private ForwardBatch batch;

    /** Runs on the device thread: loads the kernels and allocates the arena and the batch buffers. */
    CudaContext(CudaDevice device, CudaOptions options) {
        this.device = device;
        this.options = options;
        this.flags = options.flags();
        this.precision = options.precision();
        kernels = device.kernels(flags);
        elementwise = new ElementwiseKernels(kernels);
        gemm = new GemmKernels(kernels);
        gemv2 = new Gemv2Kernels(kernels);
        attention = new AttentionKernels(kernels);
        mlaDecode = new MlaDecodeKernels(kernels);
        mlaPrefill = new MlaPrefillKernels(kernels);
        moe = new MoeKernels(kernels);
        moeMma = new MoeMmaKernels(kernels);
        moeStaged = new MoeStagedKernels(kernels);
        linearMma = new LinearMmaKernels(kernels);
        fused = new FusedDecodeKernels(kernels);
        collective = new CollectiveKernels(kernels);
        arena = new ActivationArena(options.activationBytes());
        meta = new BatchMeta(options.maxBatchTokens(), options.maxSlotEntries(), device.stream());
        transfers = new Transfers(this);
        profiler = flags.profile() ? new OpProfiler(device.stream()) : null;
    }

    boolean bf16() {
        return precision == Precision.BFLOAT16;
    }

    void setBatch(ForwardBatch b) {
        batch = b;
    }

    ForwardBatch batch() {
        if (batch == null) throw new IllegalStateException("no forward in progress (call begin first)");
        return batch;
    }

    /** The batch of the forward in progress, or null before the first. */
    ForwardBatch currentBatch() {
        return batch;
    }

    /** A tensor of this backend's activation type; a tensor of another type is an error. */
    CudaTensor check(Tensor t) {
        CudaTensor c = (CudaTensor) t;
        if (c.dtype() != precision.dtype) throw new IllegalArgumentException("tensor of " + c.dtype() + " on a " + precision + " backend");
        return c;
    }

    CudaTensor tensor(int rows, int cols) {
        long bytes = (long) rows * cols * precision.dtype.bytes;
        return new CudaTensor(arena.alloc(bytes, "a " + rows + "x" + cols + " tensor"), rows, cols, cols, precision.dtype);
    }

    long scratch(long bytes, String what) {
        return arena.alloc(bytes, what);
    }

    /** Rows of whole 16-byte vectors: a 16-byte aligned start and a leading dimension of whole vectors. */
    boolean aligned16(CudaTensor t) {
        return t.ptr() % 16 == 0 && (t.ld() * precision.dtype.bytes) % 16 == 0;
    }

    /** Is a CUDA graph being captured (nothing may wait for the device, nothing may upload from the host)? */
    boolean capturing() {
        return kernels.capturing;
    }

    /** Runs one op on the device thread, between profiler events when profiling. */
    void op(Supplier<String> label, Runnable body) {
        device.run(() -> {
            if (profiler == null) {
                body.run();
                return;
            }
            profiler.begin(label.get());
            try {
                body.run();
            } finally {
                profiler.end();
            }
        });
    }

    <T> T opCall(Supplier<String> label, Callable<T> body) {
        return device.call(() -> {
            if (profiler == null) return body.call();
            profiler.begin(label.get());
            try {
                return body.call();
            } finally {
                profiler.end();
            }
        });
    }

    void close() {
        transfers.close();
        meta.close();
        arena.close();
        if (profiler != null) profiler.close();
    }

    static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }
}
