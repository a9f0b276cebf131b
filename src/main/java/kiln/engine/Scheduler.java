package kiln.engine;

import kiln.Log;
import kiln.backend.ForwardBatch;
import kiln.backend.KvCache;
import kiln.backend.Tensor;
import kiln.engine.OutputEmitter.Emitted;
import kiln.engine.StepSampler.Draw;
import kiln.model.Model;
import kiln.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * The one thread that owns all serving state: waiting and running sequences, KV slots, the radix cache. Each step
 * it either admits waiting prompts into a prefill batch (chunked to the token budget, reusing cached prefixes) or
 * runs one decode step for every running sequence, then samples and streams the new tokens. Callers talk to it
 * only through its inbox.
 */
final class Scheduler implements Runnable {
    sealed interface Command {
        record Submit(Request request, RequestHandle handle) implements Command {}

        record Abort(String requestId) implements Command {}

        record Flush(CompletableFuture<Boolean> done) implements Command {}

        /** Completes when the slot accounting holds, exceptionally (IllegalStateException) when it does not. */
        record CheckIntegrity(CompletableFuture<Void> done) implements Command {}

        record Shutdown() implements Command {}
    }

    /** Tokens of one sequence fed in this step, and the flat rows whose logits it needs. */
    record Entry(Sequence seq, int start, int fed, int[] promptLogprobPositions, boolean samples, boolean prefill) {
        /** Rows of the forward's logits this entry reads: its prompt logprob positions, then its sample. */
        int logitRows() {
            return promptLogprobPositions.length + (samples ? 1 : 0);
        }
    }

    /** SGLang clips max_new_tokens at this when estimating how much a request will still need. */
    private static final int CLIP_MAX_NEW_TOKENS = 4096;
    /** LPM ordering costs a prefix match per waiting request; past this queue length, serve in arrival order. */
    private static final int LPM_MAX_QUEUE = 128;

    private final Model model;
    private final KvCache cache;
    private final Counters counters = new Counters();
    private final KvSlots kv;
    private final OutputEmitter emitter;
    private final StepSampler sampler;
    private final EngineConfig config;
    private final Tokenizer tokenizer;
    final BlockingQueue<Command> inbox = new LinkedBlockingQueue<>();

    private final List<Sequence> waiting = new ArrayList<>();
    private final List<Sequence> running = new ArrayList<>();
    private Sequence chunked;
    /** The samples of each request still streaming, n-siblings included once forked: what an abort ends. */
    private final Map<String, List<Sequence>> sequences = new HashMap<>();
    private final SplittableRandom seeds = new SplittableRandom();
    private final double initRatio, minRatio, ratioDecay;
    private double newTokenRatio;
    private boolean lastWasPrefill;
    private boolean shuttingDown;
    /** The first failed check at idle, reported to the next CheckIntegrity. */
    private IllegalStateException brokenAtIdle;
    private volatile EngineStats stats;

    Scheduler(Model model, KvCache cache, EngineConfig config, int contextLength, Set<Integer> eosIds, Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
        this.model = model;
        this.cache = cache;
        this.kv = new KvSlots(cache.slots(), !config.disableRadixCache());
        this.emitter = new OutputEmitter(eosIds, contextLength, counters);
        this.sampler = new StepSampler(model.backend(), config.deviceSampling(), model.config().vocabSize(), emitter::bannedNow, counters);
        this.config = config;
        initRatio = Math.min(0.7 * config.scheduleConservativeness(), 1.0);
        minRatio = Math.min(0.14 * config.scheduleConservativeness(), initRatio);
        ratioDecay = (initRatio - minRatio) / 600;
        newTokenRatio = initRatio;
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
                boolean idle = waiting.isEmpty() && running.isEmpty();
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
                if (!waiting.isEmpty() || !running.isEmpty()) {
                    step();
                    checked = false;
                }
                publishStats();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void handle(Command c) {
        switch (c) {
            case Command.Submit s -> admit(s.request(), s.handle());
            case Command.Abort a -> abort(a.requestId(), "aborted by the client");
            case Command.Flush f -> {
                boolean flushed = flush();
                publishStats();
                f.done().complete(flushed);
            }
            case Command.CheckIntegrity check -> {
                try {
                    if (brokenAtIdle != null) throw brokenAtIdle;
                    kv.checkIntegrity(live());
                    check.done().complete(null);
                } catch (RuntimeException e) {
                    check.done().completeExceptionally(e);
                }
            }
            case Command.Shutdown ignored -> shuttingDown = true;
        }
    }

    /**
     * With nothing waiting or running every slot must be free or in the tree, none locked: a slot lost or held
     * twice shows here, after the step that did it. Cheap next to a step (one pass over the pool and the tree), and
     * logged rather than thrown: the scheduler keeps serving, and Engine.checkIntegrity reports it.
     */
    private void checkAtIdle() {
        try {
            kv.checkIntegrity(live());
        } catch (IllegalStateException e) {
            Log.warn("KV slot accounting is broken: %s", e.getMessage());
            if (brokenAtIdle == null) brokenAtIdle = e;
        }
    }

    private List<Sequence> live() {
        List<Sequence> live = new ArrayList<>(running);
        live.addAll(waiting);
        return live;
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
        waiting.addAll(seqs);
    }

    private Sequence newSequence(Request r, int index, long baseSeed) {
        Sequence s = new Sequence(r, index, baseSeed);
        if (tokenizer != null) s.text = new TextStream(tokenizer, r.params());
        return s;
    }

    /** The parent's next pending n-sibling: its own index and random stream, the parent's prompt results. */
    private Sequence sibling(Sequence parent) {
        Sequence sib = newSequence(parent.request, parent.request.params().n() - parent.pendingSiblings, parent.baseSeed);
        sib.cachedTokens = parent.cachedTokens;
        sib.promptLogprobs.addAll(parent.promptLogprobs);
        return sib;
    }

    // ---- one step ----

    private void step() {
        List<Entry> entries = null;
        boolean decodeWaiting = running.stream().anyMatch(s -> s != chunked && s.pending() == 1);
        boolean prefillWaiting = chunked != null || !waiting.isEmpty();
        // Alternate with decode so a long chunked prompt does not stall the running requests (unless mixed).
        if (prefillWaiting && !(lastWasPrefill && decodeWaiting && !config.enableMixedChunk())) entries = schedulePrefill();
        if ((entries == null || entries.isEmpty()) && decodeWaiting) entries = scheduleDecode();
        if (entries == null || entries.isEmpty()) {
            if (running.isEmpty() && !waiting.isEmpty()) rejectUnschedulable();
            return;
        }
        lastWasPrefill = entries.stream().anyMatch(Entry::prefill);
        long start = System.nanoTime();
        try {
            execute(entries);
            if (!lastWasPrefill) {
                counters.decodeStep(System.nanoTime() - start, entries.size());
            }
        } catch (RuntimeException e) {
            Log.warn("forward failed, aborting its %d sequences: %s", entries.size(), e);
            // by request, so that n-siblings forked in this step end too
            for (Entry en : entries) abort(en.seq().request.id(), "internal error: " + e.getMessage());
        }
    }

    private List<Entry> schedulePrefill() {
        int budget = config.chunkedPrefillSize() > 0 ? Math.min(config.chunkedPrefillSize(), config.maxPrefillTokens())
                : config.maxPrefillTokens();
        List<Entry> entries = new ArrayList<>();
        int[] cursor = {0};
        if (chunked != null) {
            Sequence s = chunked;
            int n = Math.min(s.pending(), budget);
            if (!kv.allocate(s, n)) return entries;
            entries.add(entry(s, n, cursor));
            budget -= n;
            if (n == s.pending()) chunked = null;
            else return entries;
        }
        double reserve = 0;
        for (Sequence s : running) reserve += futureTokens(s);
        for (Sequence s : ordered()) {
            if (budget <= 0 || chunked != null || running.size() >= config.maxRunningRequests()) break;
            RadixCache.Match m = kv.match(s.tokens, matchLimit(s));
            int extend = s.length - m.length();
            double future = futureTokens(s);
            double available = kv.available() - reserve;
            boolean nothingElse = running.isEmpty() && entries.isEmpty();
            if (extend + future > available && !nothingElse) break;
            int n = Math.min(extend, budget);
            if (!kv.start(s, m, n)) break;
            if (s.cachedTokens < 0) {
                s.cachedTokens = m.length();
                counters.promptTokens += s.promptLength;
                counters.cachedPromptTokens += m.length();
            }
            waiting.remove(s);
            running.add(s);
            entries.add(entry(s, n, cursor));
            reserve += future;
            budget -= n;
            if (n < extend) chunked = s;
        }
        if (config.enableMixedChunk() && !entries.isEmpty()) {
            for (Sequence s : running) {
                if (s == chunked || s.pending() != 1 || entries.stream().anyMatch(e -> e.seq() == s)) continue;
                if (!kv.allocate(s, 1)) break;
                entries.add(entry(s, 1, cursor));
            }
        }
        return entries;
    }

    private List<Entry> scheduleDecode() {
        List<Sequence> decode = new ArrayList<>(running.stream().filter(s -> s != chunked && s.pending() == 1).toList());
        boolean retracted = false;
        while (decode.size() > 1 && kv.available() < decode.size()) {
            // retract the sequence that has generated least (longest prompt first among equals): least work lost
            Sequence victim = decode.stream().min(Comparator.comparingInt(Sequence::outputLength)
                    .thenComparing(Comparator.comparingInt((Sequence s) -> s.promptLength).reversed())).orElseThrow();
            decode.remove(victim);
            retract(victim);
            retracted = true;
        }
        if (retracted) newTokenRatio = initRatio;
        List<Entry> entries = new ArrayList<>();
        int[] cursor = {0};
        for (Sequence s : decode) {
            if (!kv.allocate(s, 1)) {
                Log.warn("KV pool of %d tokens is exhausted by one sequence of %d tokens; ending it", kv.capacity(), s.length);
                finish(s, Output.FinishReason.length(), null);
                continue;
            }
            entries.add(entry(s, 1, cursor));
        }
        newTokenRatio = Math.max(minRatio, newTokenRatio - ratioDecay);
        return entries;
    }

    private Entry entry(Sequence s, int fed, int[] cursor) {
        int start = cursor[0];
        cursor[0] += fed;
        int[] lp = new int[0];
        if (s.wantsPromptLogprobs()) {
            int from = Math.max(s.kv.computed(), Math.max(s.params().logprobStartLen() - 1, 0));
            int to = Math.min(s.kv.computed() + fed, s.promptLength - 1);
            if (to > from) {
                lp = new int[to - from];
                for (int i = 0; i < lp.length; i++) lp[i] = from + i;
            }
        }
        boolean decode = fed == 1 && s.kv.computed() == s.length - 1 && s.outputLength() > 0;
        return new Entry(s, start, fed, lp, s.kv.computed() + fed == s.length, !decode);
    }

    private int matchLimit(Sequence s) {
        int limit = s.length - 1;
        if (s.wantsPromptLogprobs()) limit = Math.min(limit, Math.max(s.params().logprobStartLen() - 1, 0));
        return limit;
    }

    private double futureTokens(Sequence s) {
        int remaining = Math.max(0, Math.min(s.params().maxNewTokens(), CLIP_MAX_NEW_TOKENS) - s.outputLength());
        return remaining * newTokenRatio;
    }

    private List<Sequence> ordered() {
        if (config.schedulePolicy() != EngineConfig.SchedulePolicy.LPM || waiting.size() > LPM_MAX_QUEUE || !kv.cachesPrefixes()) {
            return new ArrayList<>(waiting);
        }
        Map<Sequence, Integer> matched = new HashMap<>();
        for (Sequence s : waiting) matched.put(s, kv.match(s.tokens, matchLimit(s)).length());
        List<Sequence> out = new ArrayList<>(waiting);
        out.sort(Comparator.comparingInt((Sequence s) -> matched.get(s)).reversed());
        return out;
    }

    /** The forward of the planned entries, then its results applied in entry order. */
    private void execute(List<Entry> entries) {
        Tensor out = model.forward(forwardBatch(entries), cache);
        StepSampler.Logits logits = sampler.logits(out, entries);
        List<Draw> draws = new ArrayList<>();
        int row = 0;
        for (Entry e : entries) {
            Sequence s = e.seq();
            for (int p : e.promptLogprobPositions()) {
                s.promptLogprobs.add(logits.logprob(row++, s.tokens[p + 1], s.params().topLogprobsNum()));
            }
            kv.computed(s, e.fed());
            if (e.prefill()) kv.cacheUnfinished(s);
            if (!e.samples()) continue;
            int r = row++;
            if (s.params().maxNewTokens() == 0) finish(s, Output.FinishReason.length(), null);
            else for (Sequence q : withForkedSiblings(s)) draws.add(new Draw(q, r));
        }
        int[] tokens = sampler.sample(logits, draws);
        for (int i = 0; i < draws.size(); i++) {
            Draw d = draws.get(i);
            SamplingParams p = d.seq().params();
            accept(d.seq(), tokens[i], p.returnLogprob() ? logits.logprob(d.row(), tokens[i], p.topLogprobsNum()) : null);
        }
    }

    /** The flat token batch of the entries; logit rows in the order {@link #execute} reads them back. */
    private static ForwardBatch forwardBatch(List<Entry> entries) {
        int total = entries.stream().mapToInt(Entry::fed).sum();
        int[] tokens = new int[total], positions = new int[total];
        List<ForwardBatch.Seq> seqs = new ArrayList<>();
        List<Integer> rows = new ArrayList<>();
        for (Entry e : entries) {
            Sequence s = e.seq();
            int computed = s.kv.computed();
            for (int i = 0; i < e.fed(); i++) {
                tokens[e.start() + i] = s.tokens[computed + i];
                positions[e.start() + i] = computed + i;
            }
            seqs.add(new ForwardBatch.Seq(e.start(), e.fed(), computed, s.kv.slots()));
            for (int p : e.promptLogprobPositions()) rows.add(e.start() + p - computed);
            if (e.samples()) rows.add(e.start() + e.fed() - 1);
        }
        return new ForwardBatch(tokens, positions, seqs, rows.stream().mapToInt(Integer::intValue).toArray());
    }

    /** The sequence and, on its first sample with the radix cache on, its n-siblings forked from its prefill. */
    private List<Sequence> withForkedSiblings(Sequence s) {
        List<Sequence> samplers = new ArrayList<>(List.of(s));
        for (; s.pendingSiblings > 0; s.pendingSiblings--) {
            Sequence sib = sibling(s);
            kv.fork(s, sib);
            running.add(sib);
            sequences.get(s.request.id()).add(sib);
            samplers.add(sib);
        }
        return samplers;
    }

    /** Appends a sampled token, then streams it or ends the sample. */
    private void accept(Sequence q, int token, Output.TokenLogprob lp) {
        Emitted e = emitter.accept(q, token, lp);
        if (e.finish() != null) finish(q, e.finish(), e);
        else emitter.emit(q, e, null);
    }

    /** Ends a sample: its slots go to the tree (or back to the pool on abort) and its final output is sent. */
    private void finish(Sequence s, Output.FinishReason reason, Emitted last) {
        kv.release(s, !reason.type().equals("abort"));
        running.remove(s);
        waiting.remove(s);
        if (chunked == s) chunked = null;
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
        if (emitter.sampleEnded(requestId)) sequences.remove(requestId);
    }

    private void retract(Sequence s) {
        kv.release(s, false);
        running.remove(s);
        waiting.addFirst(s);
        counters.retracted++;
        Log.info("Retract requests: #retracted_reqs: 1, #new_token_ratio: %.4f -> %.4f, KV pool %d tokens",
                newTokenRatio, initRatio, kv.capacity());
    }

    private void abort(String requestId, String message) {
        List<Sequence> seqs = sequences.get(requestId);
        if (seqs == null) return;
        for (Sequence q : List.copyOf(seqs)) {
            if (running.contains(q) || waiting.contains(q)) finish(q, Output.FinishReason.abort(message), null);
        }
    }

    /** Ends every request (after the thread has stopped). */
    void abortAll(String message) {
        for (String id : List.copyOf(sequences.keySet())) abort(id, message);
    }

    /** A waiting prompt that cannot run even alone (larger than the whole KV pool) is refused. */
    private void rejectUnschedulable() {
        Sequence s = waiting.getFirst();
        finish(s, Output.FinishReason.abort("the prompt needs " + s.length + " KV slots but the pool holds " + kv.capacity()
                + " (raise --max-total-tokens or --mem-fraction-static)"), null);
    }

    private boolean flush() {
        if (!running.isEmpty() || !waiting.isEmpty()) return false;
        kv.flush();
        Log.info("Cache flushed successfully!");
        return true;
    }

    private void publishStats() {
        stats = counters.snapshot(running.size(), waiting.size(), kv, newTokenRatio);
    }
}
