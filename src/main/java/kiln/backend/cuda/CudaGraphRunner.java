package kiln.backend.cuda;

import kiln.Log;
import kiln.backend.Backend;
import kiln.backend.ForwardBatch;
import kiln.backend.KvCache;
import kiln.backend.KvLayout;
import kiln.backend.Tensor;
import kiln.config.ModelConfig;
import kiln.model.Model;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Decode steps as CUDA graphs, behind the ordinary {@link Model} interface: the engine keeps calling
 * {@code forward(batch, cache)} and {@code backend.download(logits)}. A decode batch of n sequences (n up to
 * {@code --cuda-graph-max-bs}) is padded to the next captured size (1, 2, 4, 8, then multiples of 8, as SGLang
 * does) and replayed; padding sequences write their K/V into the cache's spare slot. Anything else (prefill,
 * mixed, larger batches, logits for other rows) runs eagerly on the device thread.
 *
 * <p>Replay works because nothing in a forward depends on the batch contents on the host side: the batch
 * metadata lives in fixed device buffers ({@link BatchMeta}, staged before each launch), activations come from
 * the arena at addresses that depend only on the batch size, and MoE routing and attention splits are decided
 * on the device. A graph is captured lazily, the first time its size is needed, after one eager warm-up
 * forward (which makes cuBLASLt plans and uploads rope tables outside the capture).
 */
public final class CudaGraphRunner implements Model {
    private final Model inner;
    private final CudaBackend backend;
    private final int maxBs;
    private final int[] sizes;
    private final Map<Integer, Graph> graphs = new HashMap<>();
    private KvCache graphCache;

    private record Graph(MemorySegment graph, MemorySegment exec, CudaTensor logits, long arenaEnd) {}

    public CudaGraphRunner(Model inner, int maxBs) {
        if (!(inner.backend() instanceof CudaBackend cb)) throw new IllegalArgumentException("CUDA graphs need a model on the CUDA backend, not " + inner.backend().name());
        if (maxBs < 1) throw new IllegalArgumentException("--cuda-graph-max-bs must be at least 1, not " + maxBs);
        this.inner = inner;
        this.backend = cb;
        this.maxBs = maxBs;
        this.sizes = captureSizes(maxBs);
    }

    /** 1, 2, 4, 8, 16, 24, ... up to maxBs (maxBs itself included). */
    public static int[] captureSizes(int maxBs) {
        List<Integer> s = new ArrayList<>();
        for (int b : new int[]{1, 2, 4, 8}) if (b <= maxBs) s.add(b);
        for (int b = 16; b <= maxBs; b += 8) s.add(b);
        if (s.getLast() != maxBs) s.add(maxBs);
        return s.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The captured size a decode batch of n sequences is padded to, or -1 when it runs eagerly. */
    public int paddedSize(int n) {
        for (int s : sizes) if (s >= n) return s;
        return -1;
    }

    private boolean replayable(ForwardBatch b, KvCache cache) {
        int n = b.seqs().size();
        if (n == 0 || n > maxBs || b.numTokens() != n || b.logitRows().length != n || !b.isDecode()) return false;
        if (!(cache instanceof CudaKvCache c) || c.backend() != backend) return false;
        for (int i = 0; i < n; i++) {
            if (b.logitRows()[i] != i || b.seqs().get(i).tokenStart() != i) return false;
        }
        return true;
    }

    @Override
    public Tensor forward(ForwardBatch batch, KvCache cache) {
        CudaDevice device = backend.device();
        // profiling times each op between events, which a replayed graph would hide: eager then
        if (!replayable(batch, cache) || backend.profiling()) return device.call(() -> inner.forward(batch, cache));
        int n = batch.seqs().size(), size = paddedSize(n);
        return device.call(() -> {
            if (cache != graphCache) {
                destroyGraphs();
                graphCache = cache;
            }
            Graph g = graphs.get(size);
            if (g == null) {
                g = capture(size, (CudaKvCache) cache);
                graphs.put(size, g);
            }
            backend.stage(pad(batch, size, ((CudaKvCache) cache).paddingSlot()));
            Driver.launchGraph(g.exec, device.stream());
            if (backend.syncEachLaunch()) Driver.synchronize(device.stream(), "CUDA graph replay of batch " + size);
            backend.arena().restore(g.arenaEnd);
            return g.logits.rowRange(0, n);
        });
    }

    /** The batch plus padding sequences (token 0 at position 0, writing the spare slot) up to {@code size}. */
    static ForwardBatch pad(ForwardBatch b, int size, int paddingSlot) {
        int n = b.seqs().size();
        int[] tokens = Arrays.copyOf(b.tokens(), size), positions = Arrays.copyOf(b.positions(), size);
        List<ForwardBatch.Seq> seqs = new ArrayList<>(b.seqs());
        for (int i = n; i < size; i++) seqs.add(new ForwardBatch.Seq(i, 1, 0, new int[]{paddingSlot}));
        int[] rows = new int[size];
        for (int i = 0; i < size; i++) rows[i] = i;
        return new ForwardBatch(tokens, positions, seqs, rows);
    }

    private Graph capture(int size, CudaKvCache cache) {
        long t0 = System.nanoTime();
        ForwardBatch dummy = pad(new ForwardBatch(new int[0], new int[0], List.of(), new int[0]), size, cache.paddingSlot());
        backend.stage(dummy);
        inner.forward(dummy, cache);  // warm-up outside the capture
        MemorySegment stream = backend.device().stream();
        Driver.synchronize(stream, "warm-up forward of batch " + size);
        backend.setCapturing(true);
        Driver.beginCapture(stream);
        Tensor logits;
        MemorySegment graph;
        try {
            logits = inner.forward(dummy, cache);
        } catch (RuntimeException e) {
            try {
                backend.device().joinSide();
                Driver.destroyGraph(Driver.endCapture(stream));
            } catch (RuntimeException ignored) {
                // the capture is already invalid; the first error is the one to report
            }
            throw e;
        } finally {
            backend.setCapturing(false);
        }
        backend.device().joinSide();  // a side branch left open would make the capture fail
        graph = Driver.endCapture(stream);
        MemorySegment exec = Driver.instantiate(graph);
        Log.info("Captured CUDA graph for batch size %d in %.1f ms", size, (System.nanoTime() - t0) / 1e6);
        return new Graph(graph, exec, (CudaTensor) logits, backend.arena().mark());
    }

    /** Frees the captured graphs (they are captured again when next needed). */
    public void releaseGraphs() {
        backend.device().run(this::destroyGraphs);
    }

    private void destroyGraphs() {
        for (Graph g : graphs.values()) {
            Driver.destroyGraphExec(g.exec);
            Driver.destroyGraph(g.graph);
        }
        graphs.clear();
    }

    @Override
    public ModelConfig config() {
        return inner.config();
    }

    @Override
    public Backend backend() {
        return inner.backend();
    }

    @Override
    public KvLayout kvLayout() {
        return inner.kvLayout();
    }

    @Override
    public long weightBytes() {
        return inner.weightBytes();
    }

    @Override
    public long decodeBytesPerToken() {
        return inner.decodeBytesPerToken();
    }

    @Override
    public void close() {
        backend.device().run(this::destroyGraphs);
        inner.close();
    }
}
