package kiln.engine;

import kiln.Log;
import kiln.backend.DeviceMemoryException;
import kiln.backend.KvCache;
import kiln.config.ConfigException;
import kiln.model.Model;
import kiln.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * The serving engine: a model, its KV pool and the scheduler thread that batches every request onto them.
 * Thread-safe: HTTP handlers submit and cancel from any thread; all state lives on the scheduler thread.
 */
public final class Engine implements AutoCloseable {
    /** How the abort message of a sample that waited past the waiting timeout begins (SGLang's words). */
    public static final String WAITING_TIMEOUT = "Request waiting timeout reached";

    private final Model model;
    private final KvCache cache;
    private final Scheduler scheduler;
    private final Thread thread;
    private final EngineConfig config;
    private final int contextLength;
    private final boolean hasTokenizer;
    private final Admission admission;

    /**
     * @param tokenizer turns output ids into text (and enables stop strings); null when the server runs with
     *                  --skip-tokenizer-init, in which case outputs carry ids only
     */
    public Engine(Model model, EngineConfig config, Set<Integer> eosIds, Tokenizer tokenizer) {
        this.model = model;
        this.config = config;
        this.hasTokenizer = tokenizer != null;
        this.contextLength = config.contextLength() > 0 ? config.contextLength() : model.config().maxPositionEmbeddings();
        long perToken = model.kvBytesPerToken();
        int slots;
        if (config.maxTotalTokens() > 0) {
            slots = config.maxTotalTokens();
        } else {
            double fraction = config.memFractionStatic() > 0 ? config.memFractionStatic() : model.backend().defaultMemFractionStatic();
            long budget = model.kvMemoryBudget(fraction);
            slots = (int) Math.min(Integer.MAX_VALUE / 2, Math.max(0, budget / perToken));
            if (slots < 1024) {
                Log.warn("only %d KV slots fit --mem-fraction-static %.2f; using 1024 (set --max-total-tokens)", slots, fraction);
                slots = 1024;
            }
        }
        this.cache = allocateKvCache(model, slots, perToken, config.maxTotalTokens() > 0);
        Log.info("KV Cache is allocated. #tokens: %d, KV size: %.2f GB", slots, cache.bytes() / 1e9);
        this.admission = new Admission(config.maxQueuedRequests());
        this.scheduler = new Scheduler(model, cache, config, contextLength, eosIds, tokenizer, admission);
        this.thread = Thread.ofPlatform().name("kiln-scheduler").daemon(true).start(scheduler);
    }

    /** The KV pool; a device that cannot hold it is a configuration error naming the flags that size it. */
    private static KvCache allocateKvCache(Model model, int slots, long perToken, boolean fixedByFlag) {
        try {
            return model.newKvCache(slots);
        } catch (RuntimeException e) {
            DeviceMemoryException oom = DeviceMemoryException.in(e);
            if (oom == null) throw e;
            throw new ConfigException(kvOutOfMemory(slots, perToken, fixedByFlag, oom), e);
        }
    }

    static String kvOutOfMemory(int slots, long perToken, boolean fixedByFlag, DeviceMemoryException e) {
        String device = e.freeOfTotal() == null ? "" : " (" + e.freeOfTotal() + ")";
        return String.format("the KV cache of %d tokens (%.2f GB) does not fit on the device%s after the weights; %s", slots, slots * (double) perToken / 1e9,
                device, fixedByFlag ? "lower --max-total-tokens" : "lower --mem-fraction-static or set --max-total-tokens");
    }

    public Model model() {
        return model;
    }

    public EngineConfig config() {
        return config;
    }

    public int contextLength() {
        return contextLength;
    }

    public int kvCapacity() {
        return cache.slots();
    }

    public EngineStats stats() {
        return scheduler.stats();
    }

    /** Queues one request (see {@link #submit(List)}). */
    public RequestHandle submit(Request request) {
        return submit(List.of(request)).getFirst();
    }

    /**
     * Queues requests, all or none. Fails with {@link EngineException} when one can never run (invalid parameters, a
     * prompt beyond the context, a prompt plus max_new_tokens beyond the KV pool, an id already in flight) or, marked
     * overloaded, when the waiting queue has no room for every sequence they bring.
     */
    public List<RequestHandle> submit(List<Request> requests) {
        for (Request r : requests) check(r);
        if (!thread.isAlive()) throw new EngineException("the engine is shut down", true);
        admission.admit(requests);
        List<RequestHandle> handles = new ArrayList<>();
        for (Request r : requests) {
            RequestHandle h = new RequestHandle(r.id(), r.params().n(), this);
            scheduler.inbox.add(new Scheduler.Command.Submit(r, h));
            handles.add(h);
        }
        return handles;
    }

    private void check(Request request) {
        String problem = request.params().validate();
        if (problem != null) throw new EngineException(problem, false);
        if (request.priority() != null && !config.priority().enabled()) {
            throw new EngineException("priority " + request.priority() + " needs priority scheduling, which this server runs "
                    + "without (start it with --enable-priority-scheduling); send the request without a priority", false, "priority");
        }
        int prompt = request.promptIds().length;
        if (prompt >= contextLength) {
            throw new EngineException("the prompt has " + prompt + " tokens; this model's context length is "
                    + contextLength + " tokens, which must also leave room for at least one generated token", false);
        }
        if (prompt >= cache.slots()) {
            throw new EngineException("the prompt has " + prompt + " tokens but the KV pool holds " + cache.slots()
                    + " tokens", false);
        }
        long needed = (long) prompt + request.params().maxNewTokens();
        if (needed > cache.slots()) {
            throw new EngineException("the prompt (" + prompt + " tokens) plus max_new_tokens (" + request.params().maxNewTokens()
                    + ") needs " + needed + " KV slots, but the KV pool holds " + cache.slots() + " tokens, so this request "
                    + "could never finish", false, "max_new_tokens");
        }
        if (!request.params().stop().isEmpty() && !hasTokenizer) {
            throw new EngineException("stop strings need a tokenizer (the server runs with --skip-tokenizer-init); use stop_token_ids", false);
        }
        int vocab = model.config().vocabSize();
        for (int id : request.params().logitBias().keySet()) {
            if (id >= vocab) throw new EngineException("logit_bias token id " + id + " is outside the vocabulary [0, " + vocab + ")", false, "logit_bias");
        }
        Constraint c = request.params().constraint();
        if (c != null && c.grammar().vocabSize() != vocab) {
            throw new EngineException("the " + c.kind() + " grammar was compiled for a vocabulary of " + c.grammar().vocabSize()
                    + " tokens; this model has " + vocab, false);
        }
        if (c != null && c.startAfter() != null && !hasTokenizer) {
            throw new EngineException("a grammar that starts after '" + c.startAfter() + "' needs a tokenizer to find it", false);
        }
        for (int id : request.promptIds()) {
            if (id < 0 || id >= vocab) throw new EngineException("token id " + id + " is outside the vocabulary [0, " + vocab + ")", false);
        }
    }

    /** Sequences waiting to start, as admission counts them (at most --max-queued-requests). */
    public int queuedSequences() {
        return admission.queued();
    }

    public static String newRequestId() {
        return UUID.randomUUID().toString().replace("-", "");
    }

    /** Cancels a request wherever it is, as its client asked; unknown ids are ignored. */
    public void abort(String requestId) {
        abort(requestId, Scheduler.ABORTED_BY_CLIENT);
    }

    /** Cancels a request wherever it is; its unfinished samples end with "abort" and {@code message}. */
    public void abort(String requestId, String message) {
        scheduler.inbox.add(new Scheduler.Command.Abort(requestId, message));
    }

    /** Empties the prefix cache; refused (false) while requests run or wait. */
    public boolean flushCache() {
        CompletableFuture<Boolean> done = new CompletableFuture<>();
        scheduler.inbox.add(new Scheduler.Command.Flush(done));
        try {
            return done.get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            return false;
        }
    }

    /**
     * Checks on the scheduler thread that every KV slot is where the accounting says ({@link KvSlots#checkIntegrity}),
     * and that no check the scheduler made when it last went idle failed. Throws IllegalStateException when broken.
     * Public for tests and load checks outside this package (the server's soak test); it costs one pass over the pool.
     */
    public void checkIntegrity() {
        CompletableFuture<Void> done = new CompletableFuture<>();
        scheduler.inbox.add(new Scheduler.Command.CheckIntegrity(done));
        try {
            done.get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause().getMessage(), e.getCause());
        } catch (Exception e) {
            throw new IllegalStateException("the scheduler did not answer the integrity check: " + e, e);
        }
    }

    /** Lets running and waiting requests finish (up to {@code timeoutMs}), then stops the scheduler. */
    public void drain(long timeoutMs) {
        scheduler.inbox.add(new Scheduler.Command.Shutdown());
        try {
            thread.join(timeoutMs);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Stops at once: unfinished requests end with "abort". */
    @Override
    public void close() {
        thread.interrupt();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        scheduler.abortAll("the engine shut down before the request finished");
        cache.close();
    }
}
