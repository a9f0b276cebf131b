package kiln.model;

import kiln.backend.Backend;
import kiln.backend.ForwardBatch;
import kiln.backend.KvCache;
import kiln.backend.KvLayout;
import kiln.backend.RankGroup;
import kiln.backend.Tensor;
import kiln.config.ModelConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntFunction;

/**
 * One model split over the ranks of a tensor-parallel group, driven as one: each rank's model runs on its own
 * platform thread ({@code kiln-tp-R}), every rank gets the same batch, and the ranks meet in their backends'
 * collectives. The engine above sees a single model: {@link #forward} returns rank 0's logits (every rank holds the
 * same ones) and {@link #backend} is rank 0's, where the engine samples. The KV pool is one cache per rank
 * ({@link RankCaches}) under one set of slot numbers.
 *
 * <p>A rank that fails breaks the group, so the others leave their collectives; the forward then throws the first
 * failure, once, and the next forward starts on a mended group (the engine aborts the failed step's requests).
 */
public final class TensorParallelModel implements Model {
    private final RankGroup group;
    private final List<Model> ranks;
    private final List<ExecutorService> threads;

    private TensorParallelModel(RankGroup group, List<Model> ranks, List<ExecutorService> threads) {
        this.group = group;
        this.ranks = ranks;
        this.threads = threads;
    }

    /**
     * Builds every rank's model with {@code load} (given the rank), each on its own rank's thread, in parallel. On
     * failure the ranks already built, the threads and the group are closed, and the first failure is thrown.
     */
    static TensorParallelModel load(RankGroup group, IntFunction<Model> load) {
        List<ExecutorService> threads = new ArrayList<>();
        for (int r = 0; r < group.size(); r++) {
            String name = "kiln-tp-" + r;
            threads.add(Executors.newSingleThreadExecutor(task -> Thread.ofPlatform().daemon(true).name(name).unstarted(task)));
        }
        List<Model> built = new ArrayList<>();
        try {
            built.addAll(onEveryRank(group, threads, load, true));
            return new TensorParallelModel(group, List.copyOf(built), threads);
        } catch (RuntimeException | Error e) {
            threads.forEach(ExecutorService::shutdownNow);
            group.close();
            throw e;
        }
    }

    @Override
    public Tensor forward(ForwardBatch batch, KvCache cache) {
        if (!(cache instanceof RankCaches caches)) {
            throw new IllegalArgumentException("a tensor-parallel model runs on its own KV pool (Model.newKvCache), not " + cache);
        }
        group.reset();
        return onEveryRank(group, threads, r -> ranks.get(r).forward(batch, caches.rank(r)), false).getFirst();
    }

    /**
     * Runs {@code work} for every rank on the rank's thread and waits for all of them. A rank that throws breaks the
     * group (so no rank waits for it in a collective); the first failure is then thrown here. With
     * {@code closeResults}, the results of the ranks that succeeded are closed on a failure.
     */
    private static <T> List<T> onEveryRank(RankGroup group, List<ExecutorService> threads, IntFunction<T> work, boolean closeResults) {
        AtomicReference<Throwable> first = new AtomicReference<>();
        List<Future<T>> futures = new ArrayList<>();
        for (int r = 0; r < threads.size(); r++) {
            int rank = r;
            futures.add(threads.get(r).submit(() -> {
                try {
                    return work.apply(rank);
                } catch (RuntimeException | Error e) {
                    first.compareAndSet(null, e);
                    group.abort(e);
                    throw e;
                }
            }));
        }
        List<T> results = new ArrayList<>();
        boolean interrupted = false;
        for (Future<T> f : futures) {
            // every rank is waited for, even after an interrupt: no rank may still run when this returns
            while (true) {
                try {
                    results.add(f.get());
                    break;
                } catch (ExecutionException e) {
                    results.add(null);
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                    first.compareAndSet(null, e);
                    group.abort(e);
                }
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
        Throwable failure = first.get();
        if (failure == null) return results;
        if (closeResults) {
            for (T t : results) if (t instanceof AutoCloseable c) closeQuietly(c);
        }
        if (failure instanceof RuntimeException e) throw e;
        if (failure instanceof Error e) throw e;
        throw new IllegalStateException("interrupted while the tensor-parallel ranks ran", failure);
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception ignored) {
            // the load already failed; that failure is the one to report
        }
    }

    public int size() {
        return ranks.size();
    }

    /** Rank {@code rank}'s backend (CUDA graphs capture every rank's launches). */
    public Backend rankBackend(int rank) {
        return ranks.get(rank).backend();
    }

    @Override
    public KvCache newKvCache(int slots) {
        List<KvCache> caches = new ArrayList<>();
        try {
            for (Model m : ranks) caches.add(m.newKvCache(slots));
        } catch (RuntimeException e) {
            caches.forEach(KvCache::close);
            throw e;
        }
        return new RankCaches(caches);
    }

    @Override
    public long kvBytesPerToken() {
        return ranks.stream().mapToLong(Model::kvBytesPerToken).max().orElseThrow();
    }

    @Override
    public long kvMemoryBudget(double memFractionStatic) {
        return ranks.stream().mapToLong(m -> m.kvMemoryBudget(memFractionStatic)).min().orElseThrow();
    }

    @Override
    public ModelConfig config() {
        return ranks.getFirst().config();
    }

    @Override
    public Backend backend() {
        return ranks.getFirst().backend();
    }

    @Override
    public KvLayout kvLayout() {
        return ranks.getFirst().kvLayout();
    }

    /** Bytes of weights every rank holds together. */
    @Override
    public long weightBytes() {
        return ranks.stream().mapToLong(Model::weightBytes).sum();
    }

    /** The largest rank's: the ranks read their weights at the same time, and a step waits for the slowest. */
    @Override
    public long decodeBytesPerToken() {
        return ranks.stream().mapToLong(Model::decodeBytesPerToken).max().orElseThrow();
    }

    @Override
    public void close() {
        threads.forEach(ExecutorService::shutdownNow);
        ranks.forEach(Model::close);
        group.close();
    }
}
