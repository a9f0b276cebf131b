package kiln.engine;

import kiln.Log;
import kiln.backend.KvCache;
import kiln.backend.SampledIds;
import kiln.backend.Tensor;
import kiln.engine.OutputEmitter.Emitted;
import kiln.engine.StepPlanner.Entry;
import kiln.engine.StepSampler.Draw;
import kiln.model.Model;
import kiln.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * The one thread that owns all serving state. Its loop: drain the inbox (submit, abort, flush, integrity check,
 * shutdown), plan a step ({@link StepPlanner}: a prefill batch or a decode step, with the KV slots it needs from
 * {@link KvSlots}), launch it (the forward, computed prompts into the radix cache, n-siblings forked, tokens
 * sampled by {@link StepSampler}; the batch by {@link StepBatch}), then apply its sampled tokens (streamed or ended by {@link OutputEmitter}).
 * Each planned step is logged as SGLang's scheduler logs it ({@link StepLog}).
 * Callers talk to it only through its inbox; nothing here is locked.
 *
 * <p>Overlapped ({@link EngineConfig.OverlapSchedule}), a step is applied one iteration late:
 * <pre>
 *   host:    plan N+1 | launch N+1 | apply N (await N's ids, stream) | plan N+2 | launch N+2 | apply N+1 ...
 *   device:  ... N ............ | N+1 ........................................ | N+2 ...
 * </pre>
 * Step N+1 feeds each sequence's unsettled last token as a future token (row of N's samples, read on the device),
 * so the device never waits for the host between steps. A sample that ends at N (EOS, a stop string) has had one
 * more token computed by N+1, which is dropped. Whenever a live sequence needs its tokens on the host before its
 * next step ({@link #needsHost}), the scheduler applies the step in flight before it plans, and does not overlap.
 */
final class Scheduler implements Runnable {
    sealed interface Command {
        record Submit(Request request, RequestHandle handle) implements Command {}

        record Abort(String requestId, String message) implements Command {}

        record Flush(CompletableFuture<Boolean> done) implements Command {}

        /** Completes when the slot accounting holds, exceptionally (IllegalStateException) when it does not. */
        record CheckIntegrity(CompletableFuture<Void> done) implements Command {}

        record Shutdown() implements Command {}
    }

    /** The abort message of a request its client (or an operator through /abort_request) cancelled. */
    static final String ABORTED_BY_CLIENT = "aborted by the client";

    /** How the abort message of a sample cut short for lack of KV memory begins. */
    static final String OUT_OF_KV = "out of KV memory";

    private final Model model;
    private final KvCache cache;
    private final Admission admission;
    private final Tokenizer tokenizer;
    private final long waitingTimeoutNanos;
    private final Counters counters = new Counters();
    private final KvSlots kv;
    private final StepPlanner planner;
    private final StepSampler sampler;
    private final StepConstraints constraints;
    private final OutputEmitter emitter;
    private final StepLog log;
    final BlockingQueue<Command> inbox = new LinkedBlockingQueue<>();

    /** The samples of each request still streaming, n-siblings included once forked: what an abort ends. */
    private final Map<String, List<Sequence>> sequences = new HashMap<>();
    private final SplittableRandom seeds = new SplittableRandom();
    /** Launch steps before applying the last one (EngineConfig.OverlapSchedule, resolved for this backend). */
    private final boolean overlap;
    /** The launched step whose samples are not applied yet (overlapped scheduling); null when none is. */
    private LaunchedStep inFlight;
    /** When the last decode step's samples were applied: the next one's step time starts no earlier. */
    private long lastApplied;
    private boolean shuttingDown;
    /** The first failed check at idle, reported to the next CheckIntegrity. */
    private IllegalStateException brokenAtIdle;
    private volatile EngineStats stats;

    Scheduler(Model model, KvCache cache, EngineConfig config, int contextLength, Set<Integer> eosIds, Tokenizer tokenizer,
              Admission admission) {
        this.model = model;
        this.cache = cache;
        this.admission = admission;
        this.tokenizer = tokenizer;
        this.waitingTimeoutNanos = (long) (config.waitingTimeoutSeconds() * 1e9);
        this.kv = new KvSlots(cache.slots(), !config.disableRadixCache());
        this.planner = new StepPlanner(config, kv, counters, this::leaveQueue);
        this.emitter = new OutputEmitter(eosIds, contextLength, counters);
        this.sampler = new StepSampler(model.backend(), config.deviceSampling(), model.config().vocabSize(), emitter::bannedNow, counters);
        this.constraints = new StepConstraints(model.backend(), model.config().vocabSize());
        this.overlap = config.overlapSchedule().enabled(model.backend().runsAhead());
        this.log = new StepLog(config.decodeLogInterval());
        publishStats();
    }

    EngineStats stats() {
        return stats;
    }

    @Override
    public void run() {
        try {
            boolean checked = true;  // nothing has run since the last check at idle
            while (!Thread.currentThread().isInterrupted()) {
                boolean idle = planner.idle() && inFlight == null;
                if (idle && !checked) {
                    checkAtIdle();
                    checked = true;
                }
                if (idle && shuttingDown) return;
                Command c = idle ? inbox.take() : inbox.poll();
                while (c != null) {
                    handle(c);
                    c = inbox.poll();
                }
                if (waitingTimeoutNanos > 0) expireWaiting();
                if (!planner.idle() || inFlight != null) {
                    step();
                    checked = false;
                }
                publishStats();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            constraints.close();
        }
    }

    private void handle(Command c) {
        switch (c) {
            case Command.Submit s -> admit(s.request(), s.handle());
            case Command.Abort a -> abort(a.requestId(), a.message());
            case Command.Flush f -> {
                boolean flushed = flush();
                publishStats();
                f.done().complete(flushed);
            }
            case Command.CheckIntegrity check -> {
                try {
                    if (brokenAtIdle != null) throw brokenAtIdle;
                    kv.checkIntegrity(planner.live());
                    check.done().complete(null);
                } catch (RuntimeException e) {
                    check.done().completeExceptionally(e);
                }
            }
            case Command.Shutdown ignored -> shuttingDown = true;
        }
    }

    private void admit(Request r, RequestHandle h) {
        SamplingParams p = r.params();
        long baseSeed = p.seed() != null ? p.seed() : seeds.nextLong();
        // With the radix cache, n samples share one prefill: the first forks the others once its prompt is cached.
        int separate = kv.cachesPrefixes() ? 1 : p.n();
        List<Sequence> seqs = new ArrayList<>();
        for (int i = 0; i < separate; i++) {
            Sequence s = newSequence(r, i, baseSeed);
            if (kv.cachesPrefixes()) s.pendingSiblings = p.n() - 1;
            seqs.add(s);
        }
        emitter.open(r, h);
        sequences.put(r.id(), seqs);
        planner.enqueue(seqs);
    }

    private Sequence newSequence(Request r, int index, long baseSeed) {
        Sequence s = new Sequence(r, index, baseSeed);
        if (tokenizer != null) s.text = new TextStream(tokenizer, r.params());
        Constraint c = r.params().constraint();
        if (c != null) s.grammar = new GrammarState(c, id -> tokenizer == null ? new byte[0] : tokenizer.tokenBytes(id));
        return s;
    }

    /** The parent's next pending n-sibling: its own index and random stream, the parent's prompt results. */
    private Sequence sibling(Sequence parent) {
        Sequence sib = newSequence(parent.request, parent.request.params().n() - parent.pendingSiblings, parent.baseSeed);
        sib.queued = false; // its place was the parent's, given back when the parent started
        sib.cachedTokens = parent.cachedTokens;
        sib.promptLogprobs.addAll(parent.promptLogprobs);
        return sib;
    }

    // ---- one step: plan, launch, apply ----

    /** A launched step: its entries, its draws (sequence and logit row, in sample order), logits and sampled ids. */
    private record LaunchedStep(List<Entry> entries, List<Draw> draws, StepSampler.Logits logits, SampledIds ids,
                                boolean decode, long startNanos) {}

    private void step() {
        boolean overlapNow = overlap && !planner.anyLive(this::needsHost);
        if (!overlapNow) applyInFlight();
        StepPlanner.Plan plan = planner.plan();
        List<Entry> entries = plan.entries();
        if (!plan.exhausted().isEmpty()) {
            // their last samples may be in flight: seen first, so that nothing they sampled is lost
            applyInFlight();
            entries = StepBatch.withoutEnded(entries);
            for (Sequence s : plan.exhausted()) {
                if (s.ended) continue;
                Log.warn("KV pool of %d tokens has no slot for the next token of a sequence of %d tokens; ending it", kv.capacity(), s.length);
                finish(s, Output.FinishReason.abort(OUT_OF_KV + ": the KV pool (" + kv.capacity() + " tokens) had no slot for token "
                        + (s.settledOutputLength() + 1) + " of this sample"), null);
            }
        }
        if (entries.isEmpty()) {
            if (inFlight != null) {
                applyInFlight();
                return;
            }
            Sequence stuck = planner.stuck();
            if (stuck != null) rejectUnschedulable(stuck);
            return;
        }
        if (entries.stream().anyMatch(Entry::prefill)) log.prefill(entries, planner.runningCount(), planner.waitingCount(), kv);
        else log.decode(planner.runningCount(), planner.waitingCount(), kv, counters.generationTokens);
        LaunchedStep launched;
        try {
            launched = launch(entries, overlapNow);
        } catch (RuntimeException e) {
            fail(entries, e);
            applyInFlight();
            return;
        }
        if (inFlight != null) counters.overlappedSteps++;
        applyInFlight();
        if (overlapNow) inFlight = launched;
        else apply(launched);
    }

    /**
     * Whether the sequence's next step needs the tokens it sampled on the host first: structured output (its mask
     * follows the last token), logprobs, penalties and min_new_tokens (sampled on the host), or an unsampled prompt
     * whose logprobs are wanted.
     */
    private boolean needsHost(Sequence s) {
        return s.grammar != null || s.wantsPromptLogprobs() || !sampler.samplesOnDevice(s);
    }

    /**
     * Runs the forward of the planned entries and samples it. The KV of every fed token counts as computed from
     * here (later steps run after this one on the device); prompts are cached, n-siblings forked, and each
     * sample's token is drawn. With {@code overlapped}, each draw's sequence gets a placeholder for its token.
     */
    private LaunchedStep launch(List<Entry> entries, boolean overlapped) {
        long start = System.nanoTime();
        // structured output's masks are computed on the mask worker while the forward runs, and joined after it
        StepConstraints.Pending pending = constraints.start(entries);
        Tensor out = constraints.apply(pending, model.forward(StepBatch.of(entries, inFlight == null ? null : inFlight.ids()), cache));
        for (Entry e : entries) {
            kv.computed(e.seq(), e.fed());
            if (e.prefill()) kv.cacheUnfinished(e.seq());
        }
        StepSampler.Logits logits = sampler.logits(out, entries);
        List<Draw> draws = new ArrayList<>();
        int row = 0;
        for (Entry e : entries) {
            Sequence s = e.seq();
            for (int p : e.promptLogprobPositions()) {
                s.promptLogprobs.add(logits.logprob(row++, s.tokens[p + 1], s.params().topLogprobsNum()));
            }
            if (!e.samples()) continue;
            int r = row++;
            if (s.params().maxNewTokens() == 0) finish(s, Output.FinishReason.length(), null);
            else for (Sequence q : withForkedSiblings(s)) draws.add(new Draw(q, r));
        }
        SampledIds ids = sampler.sample(logits, draws);
        if (overlapped) for (int i = 0; i < draws.size(); i++) draws.get(i).seq().reserve(i);
        return new LaunchedStep(entries, draws, logits, ids, entries.stream().noneMatch(Entry::prefill), start);
    }

    /** Applies the step in flight, if there is one. */
    private void applyInFlight() {
        LaunchedStep l = inFlight;
        if (l == null) return;
        inFlight = null;
        apply(l);
    }

    /** Each draw's token to its sequence (unless the sequence ended meanwhile), in sample order. */
    private void apply(LaunchedStep l) {
        int[] tokens;
        try {
            tokens = l.ids().await();
        } catch (RuntimeException e) {
            fail(l.entries(), e);
            return;
        }
        for (int i = 0; i < tokens.length; i++) {
            Draw d = l.draws().get(i);
            Sequence q = d.seq();
            if (q.ended) continue;
            SamplingParams p = q.params();
            accept(q, tokens[i], p.returnLogprob() ? l.logits().logprob(d.row(), tokens[i], p.topLogprobsNum()) : null);
        }
        long now = System.nanoTime();
        long took = now - Math.max(l.startNanos(), lastApplied);
        if (l.decode()) counters.decodeStep(took, l.entries().size());
        else counters.prefillStep(took, l.entries().stream().filter(Entry::prefill).mapToInt(Entry::fed).sum());
        lastApplied = now;
    }

    /** A step that failed: its sequences' requests end (by request, so that n-siblings forked in it end too). */
    private void fail(List<Entry> entries, RuntimeException e) {
        Log.warn("forward failed, aborting its %d sequences: %s", entries.size(), e);
        for (Entry en : entries) abort(en.seq().request.id(), "internal error: " + e.getMessage());
    }

    /** The sequence and, on its first sample with the radix cache on, its n-siblings forked from its prefill. */
    private List<Sequence> withForkedSiblings(Sequence s) {
        List<Sequence> samplers = new ArrayList<>(List.of(s));
        for (; s.pendingSiblings > 0; s.pendingSiblings--) {
            Sequence sib = sibling(s);
            kv.fork(s, sib);
            planner.addRunning(sib);
            sequences.get(s.request.id()).add(sib);
            samplers.add(sib);
        }
        return samplers;
    }

    /** Feeds a sampled token to the sample's grammar, appends it, then streams it or ends the sample. */
    private void accept(Sequence q, int token, Output.TokenLogprob lp) {
        boolean grammarEnded = false;
        if (q.grammar != null) {
            switch (q.grammar.accept(token, q.params().stopTokenIds().contains(token))) {
                case REFUSED -> {
                    finish(q, Output.FinishReason.abort("internal error: token " + token + " was sampled outside the request's "
                            + q.params().constraint().kind()), null);
                    return;
                }
                case ENDED -> grammarEnded = true;
                case ON -> {}
            }
        }
        Emitted e = emitter.accept(q, token, lp, grammarEnded);
        if (e.finish() != null) finish(q, e.finish(), e);
        else emitter.emit(q, e, null);
    }

    /**
     * Ends a sample: its slots go to the tree (or back to the pool on abort) and its final output is sent. Tokens it
     * sampled in a step still in flight are dropped (that step's KV of the last settled token is kept: later steps
     * run after it on the device).
     */
    private void finish(Sequence s, Output.FinishReason reason, Emitted last) {
        s.ended = true;
        s.dropUnsettled();
        leaveQueue(s);
        kv.release(s, !reason.type().equals("abort"));
        planner.remove(s);
        counters.finishedByReason.merge(reason.type(), 1L, Long::sum);
        // a client that reads /get_server_info right after its last token must see this request gone
        publishStats();
        emitter.emit(s, last, reason);
        // n-siblings that were never forked end with their parent
        for (; s.pendingSiblings > 0; s.pendingSiblings--) {
            emitter.emit(sibling(s), null, reason);
            sampleEnded(s.request.id());
        }
        sampleEnded(s.request.id());
    }

    private void sampleEnded(String requestId) {
        if (emitter.sampleEnded(requestId)) {
            sequences.remove(requestId);
            admission.ended(requestId);
        }
    }

    /**
     * Gives back the queue places a sequence took at admission, once: when it first starts (its pending n-siblings
     * with it, as they start from its prefill) or when it ends without having started.
     */
    private void leaveQueue(Sequence s) {
        if (!s.queued) return;
        s.queued = false;
        admission.dequeued(1 + s.pendingSiblings);
    }

    private void abort(String requestId, String message) {
        List<Sequence> seqs = sequences.get(requestId);
        if (seqs == null) return;
        for (Sequence q : List.copyOf(seqs)) {
            if (planner.contains(q)) finish(q, Output.FinishReason.abort(message), null);
        }
    }

    /** Ends every request (after the thread has stopped), those still in the inbox too. */
    void abortAll(String message) {
        for (Command c; (c = inbox.poll()) != null; ) {
            if (c instanceof Command.Submit s) admit(s.request(), s.handle());
        }
        for (String id : List.copyOf(sequences.keySet())) abort(id, message);
        inFlight = null;
    }

    /**
     * Ends the samples that have waited to start for longer than the waiting timeout (a retracted sample, which
     * already streamed output, is not waiting to start and runs on).
     */
    private void expireWaiting() {
        long now = System.nanoTime();
        for (Sequence s : planner.waiting()) {
            long waited = now - s.arrivalNanos;
            if (s.queued && waited > waitingTimeoutNanos) {
                finish(s, Output.FinishReason.abort(String.format("%s: the request waited %.1f s in the queue without starting "
                        + "(--req-waiting-timeout %s)", Engine.WAITING_TIMEOUT, waited / 1e9, seconds(waitingTimeoutNanos))), null);
            }
        }
    }

    private static String seconds(long nanos) {
        double s = nanos / 1e9;
        return s == Math.rint(s) ? String.valueOf((long) s) : String.valueOf(s);
    }

    /** A waiting prompt that cannot run even alone (larger than the whole KV pool) is refused. */
    private void rejectUnschedulable(Sequence s) {
        finish(s, Output.FinishReason.abort("the prompt needs " + s.length + " KV slots but the pool holds " + kv.capacity()
                + " (raise --max-total-tokens or --mem-fraction-static)"), null);
    }

    private boolean flush() {
        if (!planner.idle()) return false;
        applyInFlight();  // a last step whose samples all ended: nothing of it is still wanted
        kv.flush();
        Log.info("Cache flushed successfully!");
        return true;
    }

    /**
     * With nothing waiting or running every slot must be free or in the tree, none locked: a slot lost or held
     * twice shows here, after the step that did it. Cheap next to a step (one pass over the pool and the tree), and
     * logged rather than thrown: the scheduler keeps serving, and Engine.checkIntegrity reports it.
     */
    private void checkAtIdle() {
        try {
            kv.checkIntegrity(planner.live());
        } catch (IllegalStateException e) {
            Log.warn("KV slot accounting is broken: %s", e.getMessage());
            if (brokenAtIdle == null) brokenAtIdle = e;
        }
    }

    private void publishStats() {
        stats = counters.snapshot(planner.runningCount(), planner.waitingCount(), kv, planner.newTokenRatio());
    }
}
