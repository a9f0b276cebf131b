package kiln.backend.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * Splits index ranges over the cores. The calling thread works too (a fork-join pool's external caller waits
 * while spinning, which on a small machine takes a core away from the work), and idle workers spin briefly before
 * parking because decode calls this hundreds of times per token with short gaps.
 */
final class Parallel {
    private Parallel() {}

    static final int THREADS = kiln.KilnProperty.THREADS.intValue(Runtime.getRuntime().availableProcessors());
    private static final long SPIN_NANOS = 50_000;

    @FunctionalInterface
    interface Range {
        void run(int from, int to);
    }

    private static final class Job {
        final Range body;
        final int n, chunks;
        final AtomicInteger next = new AtomicInteger(), remaining;
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        final Thread caller = Thread.currentThread();

        Job(Range body, int n, int chunks) {
            this.body = body;
            this.n = n;
            this.chunks = chunks;
            this.remaining = new AtomicInteger(chunks);
        }

        void work() {
            int c;
            while ((c = next.getAndIncrement()) < chunks) {
                try {
                    int from = (int) ((long) n * c / chunks), to = (int) ((long) n * (c + 1) / chunks);
                    if (from < to) body.run(from, to);
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                }
                if (remaining.decrementAndGet() == 0) LockSupport.unpark(caller);
            }
        }
    }

    private static final Worker[] WORKERS = new Worker[Math.max(0, THREADS - 1)];
    private static final Object DISPATCH = new Object();
    private static final ThreadLocal<Boolean> INSIDE = ThreadLocal.withInitial(() -> false);

    static {
        for (int i = 0; i < WORKERS.length; i++) WORKERS[i] = new Worker(i);
    }

    private static final class Worker implements Runnable {
        volatile Job job;
        final Thread thread;

        Worker(int i) {
            thread = Thread.ofPlatform().daemon(true).name("kiln-cpu-" + (i + 1)).start(this);
        }

        @Override
        public void run() {
            INSIDE.set(true);
            while (true) {
                Job j = job;
                if (j == null) {
                    long until = System.nanoTime() + SPIN_NANOS;
                    while ((j = job) == null && System.nanoTime() < until) Thread.onSpinWait();
                    if (j == null) {
                        LockSupport.park(this);
                        continue;
                    }
                }
                j.work();
                job = null;
            }
        }
    }

    /** Runs body over [0, n) in chunks of at least {@code grain} items, several chunks per core. */
    static void forRange(int n, int grain, Range body) {
        int chunks = Math.min(Math.max(1, n / Math.max(1, grain)), THREADS * 4);
        if (chunks <= 1 || WORKERS.length == 0 || INSIDE.get()) {
            body.run(0, n);
            return;
        }
        synchronized (DISPATCH) {
            Job job = new Job(body, n, chunks);
            INSIDE.set(true);
            try {
                for (Worker w : WORKERS) {
                    w.job = job;
                    LockSupport.unpark(w.thread);
                }
                job.work();
                long until = System.nanoTime() + SPIN_NANOS;
                while (job.remaining.get() > 0) {
                    if (System.nanoTime() < until) Thread.onSpinWait();
                    else LockSupport.park(job);
                }
            } finally {
                INSIDE.set(false);
            }
            Throwable t = job.failure.get();
            if (t instanceof RuntimeException re) throw re;
            if (t instanceof Error e) throw e;
            if (t != null) throw new RuntimeException(t);
        }
    }
}
