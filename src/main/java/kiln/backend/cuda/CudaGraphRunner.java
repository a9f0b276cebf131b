package kiln.backend.cuda;

import kiln.Log;
import kiln.backend.Backend;
import kiln.backend.ForwardBatch;
import kiln.backend.KvCache;
import kiln.backend.KvLayout;
import kiln.backend.Tensor;
import kiln.config.ModelConfig;
import kiln.model.Model;
import kiln.model.RankCaches;
import kiln.model.TensorParallelModel;

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
 *
 * <p>A {@link TensorParallelModel} of CUDA ranks is captured whole: every device's stream is put in capture mode,
 * the group's forward runs (each rank on its thread, every op on its device's thread), and each device's capture
 * ends in one graph. Virtual ranks share one device, so one graph holds every rank's launches and the collectives
 * between them; NCCL ranks give one graph per GPU, replayed one after the other, which meet inside NCCL's kernels.
 */
public final class CudaGraphRunner implements Model {
    private final Model inner;
    /** Rank 0's backend: where the logits are. */
    private final CudaBackend backend;
    /** Every rank's backend, rank 0 first (just {@link #backend} for a model on one backend). */
    private final List<CudaBackend> ranks;
    /** The devices the ranks run on, each once, in rank order: one graph is captured and replayed per device. */
    private final List<CudaDevice> devices;
    /** A tensor-parallel model: its forward runs on the rank threads, which hand each op to the device threads. */
    private final boolean group;
    private final int maxBs;
    private final int[] sizes;
    private final Map<Integer, Graph> graphs = new HashMap<>();
    private KvCache graphCache;

    /** One captured batch size: a graph per device, rank 0's logits, each rank's arena end after the forward. */
    private record Graph(List<MemorySegment> graphs, List<MemorySegment> execs, CudaTensor logits, long[] arenaEnds) {}

    public CudaGraphRunner(Model inner, int maxBs) {
        if (!(inner.backend() instanceof CudaBackend cb)) throw new IllegalArgumentException("CUDA graphs need a model on the CUDA backend, not " + inner.backend().name());
        if (maxBs < 1) throw new IllegalArgumentException("--cuda-graph-max-bs must be at least 1, not " + maxBs);
        this.inner = inner;
        this.backend = cb;
        List<CudaBackend> rs = new ArrayList<>();
        if (inner instanceof TensorParallelModel tp) {
            for (int r = 0; r < tp.size(); r++) rs.add((CudaBackend) tp.rankBackend(r));
        } else {
            rs.add(cb);
        }
        this.ranks = List.copyOf(rs);
        this.group = inner instanceof TensorParallelModel;
        List<CudaDevice> ds = new ArrayList<>();
        for (CudaBackend r : ranks) if (!ds.contains(r.device())) ds.add(r.device());
        this.devices = List.copyOf(ds);
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

    /** Rank r's part of the KV pool: the pool itself for a model on one backend. */
    private static KvCache rankCache(KvCache cache, int r) {
        return cache instanceof RankCaches rc ? rc.rank(r) : cache;
    }

    private boolean replayable(ForwardBatch b, KvCache cache) {
        int n = b.seqs().size();
        if (n == 0 || n > maxBs || b.numTokens() != n || b.logitRows().length != n || !b.isDecode()) return false;
        if (group != (cache instanceof RankCaches)) return false;
        for (int r = 0; r < ranks.size(); r++) {
            if (!(rankCache(cache, r) instanceof CudaKvCache c) || c.backend() != ranks.get(r)) return false;
        }
        for (int i = 0; i < n; i++) {
            if (b.logitRows()[i] != i || b.seqs().get(i).tokenStart() != i) return false;
        }
        return true;
    }

    /**
     * The inner forward: on the device thread for a model on one backend (no hand-over per op); from this thread for
     * a tensor-parallel model, whose rank threads hand their ops to the device threads (a device thread waiting for
     * them would never get them).
     */
    private Tensor innerForward(ForwardBatch batch, KvCache cache) {
        return group ? inner.forward(batch, cache) : backend.device().call(() -> inner.forward(batch, cache));
    }

    /** Runs {@code work} on the device thread when every rank shares one device, else here (each step hands itself over). */
    private <T> T onDevices(java.util.concurrent.Callable<T> work) {
        if (devices.size() == 1) return devices.getFirst().call(work);
        try {
            return work.call();
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new CudaException(e.toString(), e);
        }
    }

    @Override
    public Tensor forward(ForwardBatch batch, KvCache cache) {
        // profiling times each op between events, which a replayed graph would hide: eager then
        if (!replayable(batch, cache) || backend.profiling()) return innerForward(batch, cache);
        int n = batch.seqs().size(), size = paddedSize(n);
        if (cache != graphCache) {
            onDevices(() -> {
                destroyGraphs();
                return null;
            });
            graphCache = cache;
        }
        Graph g = graphs.get(size);
        if (g == null) {
            g = capture(size, cache);
            graphs.put(size, g);
        }
        Graph graph = g;
        ForwardBatch padded = pad(batch, size, ((CudaKvCache) rankCache(cache, 0)).paddingSlot());
        return onDevices(() -> {
            for (CudaBackend r : ranks) r.device().run(() -> r.stage(padded));
            for (int d = 0; d < devices.size(); d++) {
                CudaDevice device = devices.get(d);
                MemorySegment exec = graph.execs.get(d);
                device.run(() -> {
                    Driver.launchGraph(exec, device.stream());
                    if (backend.syncEachLaunch()) Driver.synchronize(device.stream(), "CUDA graph replay of batch " + size);
                });
            }
            for (int r = 0; r < ranks.size(); r++) {
                CudaBackend rank = ranks.get(r);
                long end = graph.arenaEnds[r];
                rank.device().run(() -> rank.arena().restore(end));
            }
            return graph.logits.rowRange(0, n);
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
        return new ForwardBatch(tokens, positions, seqs, rows, b.previous());
    }

    private Graph capture(int size, KvCache cache) {
        long t0 = System.nanoTime();
        ForwardBatch dummy = pad(new ForwardBatch(new int[0], new int[0], List.of(), new int[0]), size,
                ((CudaKvCache) rankCache(cache, 0)).paddingSlot());
        for (CudaBackend r : ranks) r.device().run(() -> r.stage(dummy));
        innerForward(dummy, cache);  // warm-up outside the capture
        for (CudaDevice d : devices) d.run(() -> Driver.synchronize(d.stream(), "warm-up forward of batch " + size));
        for (CudaBackend r : ranks) r.device().run(() -> r.setCapturing(true));
        List<CudaDevice> begun = new ArrayList<>();
        Tensor logits;
        try {
            for (CudaDevice d : devices) {
                d.run(() -> Driver.beginCapture(d.stream()));
                begun.add(d);
            }
            logits = innerForward(dummy, cache);
        } catch (RuntimeException e) {
            for (CudaDevice d : begun) {
                try {
                    d.run(() -> {
                        d.joinSide();
                        Driver.destroyGraph(Driver.endCapture(d.stream()));
                    });
                } catch (RuntimeException ignored) {
                    // the capture is already invalid; the first error is the one to report
                }
            }
            throw e;
        } finally {
            for (CudaBackend r : ranks) r.device().run(() -> r.setCapturing(false));
        }
        List<MemorySegment> gs = new ArrayList<>(), execs = new ArrayList<>();
        for (CudaDevice d : devices) {
            d.run(() -> {
                d.joinSide();  // a side branch left open would make the capture fail
                MemorySegment graph = Driver.endCapture(d.stream());
                gs.add(graph);
                execs.add(Driver.instantiate(graph));
            });
        }
        long[] ends = new long[ranks.size()];
        for (int r = 0; r < ranks.size(); r++) {
            CudaBackend rank = ranks.get(r);
            ends[r] = rank.device().call(() -> rank.arena().mark());
        }
        Log.info("Captured CUDA graph for batch size %d in %.1f ms%s", size, (System.nanoTime() - t0) / 1e6,
                group ? " (" + ranks.size() + " tensor-parallel ranks, " + devices.size() + " graph(s))" : "");
        return new Graph(List.copyOf(gs), List.copyOf(execs), (CudaTensor) logits, ends);
    }

    /** Frees the captured graphs (they are captured again when next needed). */
    public void releaseGraphs() {
        onDevices(() -> {
            destroyGraphs();
            return null;
        });
    }

    private void destroyGraphs() {
        for (Graph g : graphs.values()) {
            for (int d = 0; d < devices.size(); d++) {
                MemorySegment exec = g.execs.get(d), graph = g.graphs.get(d);
                devices.get(d).run(() -> {
                    Driver.destroyGraphExec(exec);
                    Driver.destroyGraph(graph);
                });
            }
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
    public KvCache newKvCache(int slots) {
        return inner.newKvCache(slots);
    }

    @Override
    public long kvBytesPerToken() {
        return inner.kvBytesPerToken();
    }

    @Override
    public long kvMemoryBudget(double memFractionStatic) {
        return inner.kvMemoryBudget(memFractionStatic);
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
        releaseGraphs();
        inner.close();
    }
}
