package kiln.engine;

import kiln.Log;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What runs next: the waiting and running queues and the choice of each step's batch. A step is either a prefill
 * batch (the chunked prompt's next chunk, then waiting prompts admitted on their cached prefixes, by policy, within
 * the token budget and SGLang's new-token-ratio estimate of the memory they will still need; mixed chunk adds
 * decode tokens) or one decode token for every running sequence, retracting the ones with the least output when
 * slots run out. Planning takes the slots the step will write (through KvSlots) and moves sequences between the
 * queues; it runs nothing.
 */
final class StepPlanner {
    /** Tokens of one sequence fed in this step, and the flat rows whose logits it needs. */
    record Entry(Sequence seq, int start, int fed, int[] promptLogprobPositions, boolean samples, boolean prefill) {
        /** Rows of the forward's logits this entry reads: its prompt logprob positions, then its sample. */
        int logitRows() {
            return promptLogprobPositions.length + (samples ? 1 : 0);
        }
    }

    /**
     * One step's batch, and the decoding sequences that found no slot for their next token even after every
     * retraction (one sequence fills the pool): the scheduler ends those by length.
     */
    record Plan(List<Entry> entries, List<Sequence> exhausted) {
        boolean prefill() {
            return entries.stream().anyMatch(Entry::prefill);
        }
    }

    /** SGLang clips max_new_tokens at this when estimating how much a request will still need. */
    private static final int CLIP_MAX_NEW_TOKENS = 4096;
    /** LPM ordering costs a prefix match per waiting request; past this queue length, serve in arrival order. */
    private static final int LPM_MAX_QUEUE = 128;

    private final EngineConfig config;
    private final KvSlots kv;
    private final Counters counters;
    /** Told when a sequence starts for the first time (it leaves the admission queue). */
    private final java.util.function.Consumer<Sequence> started;
    private final List<Sequence> waiting = new ArrayList<>();
    private final List<Sequence> running = new ArrayList<>();
    /** The running sequence whose prompt is only partly prefilled (at most one). */
    private Sequence chunked;
    private final double initRatio, minRatio, ratioDecay;
    private double newTokenRatio;
    private boolean lastWasPrefill;

    StepPlanner(EngineConfig config, KvSlots kv, Counters counters, java.util.function.Consumer<Sequence> started) {
        this.config = config;
        this.started = started;
        this.kv = kv;
        this.counters = counters;
        initRatio = Math.min(0.7 * config.scheduleConservativeness(), 1.0);
        minRatio = Math.min(0.14 * config.scheduleConservativeness(), initRatio);
        ratioDecay = (initRatio - minRatio) / 600;
        newTokenRatio = initRatio;
    }

    // ---- the queues ----

    void enqueue(List<Sequence> seqs) {
        waiting.addAll(seqs);
    }

    /** A sequence that joins the running ones without admission (an n-sibling forked from its parent's prefill). */
    void addRunning(Sequence s) {
        running.add(s);
    }

    /** Drops a sequence that has ended from wherever it is. */
    void remove(Sequence s) {
        running.remove(s);
        waiting.remove(s);
        if (chunked == s) chunked = null;
    }

    boolean contains(Sequence s) {
        return running.contains(s) || waiting.contains(s);
    }

    boolean idle() {
        return waiting.isEmpty() && running.isEmpty();
    }

    int runningCount() {
        return running.size();
    }

    int waitingCount() {
        return waiting.size();
    }

    /** The waiting sequences, as a copy. */
    List<Sequence> waiting() {
        return new ArrayList<>(waiting);
    }

    /** Every sequence that may hold slots: running, then waiting. */
    List<Sequence> live() {
        List<Sequence> live = new ArrayList<>(running);
        live.addAll(waiting);
        return live;
    }

    /** Whether some running or waiting sequence matches (without copying the queues, as {@link #live} does). */
    boolean anyLive(java.util.function.Predicate<Sequence> test) {
        return running.stream().anyMatch(test) || waiting.stream().anyMatch(test);
    }

    /** With nothing running, a waiting prompt that still got no step cannot run even alone; null otherwise. */
    Sequence stuck() {
        return running.isEmpty() && !waiting.isEmpty() ? waiting.getFirst() : null;
    }

    double newTokenRatio() {
        return newTokenRatio;
    }

    // ---- planning ----

    Plan plan() {
        boolean decodeWaiting = running.stream().anyMatch(this::decodable);
        boolean prefillWaiting = chunked != null || !waiting.isEmpty();
        List<Entry> entries = List.of();
        List<Sequence> exhausted = new ArrayList<>();
        // Alternate with decode so a long chunked prompt does not stall the running requests (unless mixed).
        if (prefillWaiting && !(lastWasPrefill && decodeWaiting && !config.enableMixedChunk())) entries = prefill();
        if (entries.isEmpty() && decodeWaiting) entries = decode(exhausted);
        Plan plan = new Plan(entries, exhausted);
        if (!entries.isEmpty()) lastWasPrefill = plan.prefill();
        return plan;
    }

    private List<Entry> prefill() {
        int budget = config.chunkedPrefillSize() > 0 ? Math.min(config.chunkedPrefillSize(), config.maxPrefillTokens())
                : config.maxPrefillTokens();
        List<Entry> entries = new ArrayList<>();
        if (chunked != null) {
            Sequence s = chunked;
            int n = Math.min(s.pending(), budget);
            if (!kv.allocate(s, n)) return entries;
            add(entries, s, n);
            budget -= n;
            if (n == s.pending()) chunked = null;
            else return entries;
        }
        double reserve = 0;
        for (Sequence s : running) reserve += futureTokens(s);
        for (Sequence s : ordered()) {
            if (budget <= 0 || chunked != null) break;
            if (s.hasUnsettled()) continue;  // retracted while its last sample was in flight: it restarts once that is seen
            RadixCache.Match m;
            int extend;
            double future;
            boolean room, fits;
            while (true) {
                m = kv.match(s.tokens, matchLimit(s));
                extend = s.length - m.length();
                future = futureTokens(s);
                room = running.size() < config.maxRunningRequests();
                fits = extend + future <= kv.available() - reserve || (running.isEmpty() && entries.isEmpty());
                if (room && fits) break;
                // priority preemption: a running sequence this one outranks gives up its place and slots
                Sequence victim = preemptible(s, entries);
                if (victim == null) break;
                reserve -= futureTokens(victim);
                retract(victim);
            }
            if (!room || !fits) break;
            int n = Math.min(extend, budget);
            if (!kv.start(s, m, n)) break;
            if (s.cachedTokens < 0) {
                started.accept(s);
                s.cachedTokens = m.length();
                counters.promptTokens += s.promptLength;
                counters.cachedPromptTokens += m.length();
            }
            waiting.remove(s);
            running.add(s);
            add(entries, s, n);
            reserve += future;
            budget -= n;
            if (n < extend) chunked = s;
        }
        if (config.enableMixedChunk() && !entries.isEmpty()) {
            for (Sequence s : running) {
                if (!decodable(s) || entries.stream().anyMatch(e -> e.seq() == s)) continue;
                if (!kv.allocate(s, 1)) break;
                add(entries, s, 1);
            }
        }
        return entries;
    }

    private List<Entry> decode(List<Sequence> exhausted) {
        List<Sequence> decode = new ArrayList<>(running.stream().filter(this::decodable).toList());
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
        for (Sequence s : decode) {
            if (kv.allocate(s, 1)) add(entries, s, 1);
            else exhausted.add(s);
        }
        newTokenRatio = Math.max(minRatio, newTokenRatio - ratioDecay);
        return entries;
    }

    /**
     * A running sequence that takes one more token: its prompt is done and its last token's KV is not computed yet.
     * One whose unsettled samples (overlapped scheduling) already reach max_new_tokens ends when they are seen.
     */
    private boolean decodable(Sequence s) {
        return s != chunked && s.pending() == 1 && s.outputLength() < s.params().maxNewTokens();
    }

    /**
     * With priority preemption, the running sequence to retract so that {@code s} can start: of those {@code s}
     * outranks by at least the threshold and that this step does not feed, the least preferred (the one with the
     * least output among equals); null when there is none.
     */
    private Sequence preemptible(Sequence s, List<Entry> entries) {
        EngineConfig.PriorityScheduling p = config.priority();
        if (!p.enabled() || !p.preemption()) return null;
        int mine = p.of(s.request);
        Sequence victim = null;
        for (Sequence r : running) {
            int theirs = p.of(r.request);
            if (r == chunked || p.compare(mine, theirs) >= 0 || Math.abs((long) mine - theirs) < p.preemptionThreshold()) continue;
            if (entries.stream().anyMatch(e -> e.seq() == r)) continue;
            if (victim == null) {
                victim = r;
                continue;
            }
            int c = p.compare(p.of(victim.request), theirs);
            if (c < 0 || (c == 0 && r.outputLength() < victim.outputLength())) victim = r;
        }
        return victim;
    }

    /** Back to the head of the queue, its slots freed: it prefills its prompt and output again when readmitted. */
    private void retract(Sequence s) {
        kv.release(s, false);
        running.remove(s);
        waiting.addFirst(s);
        counters.retracted++;
        Log.info("Retract requests: #retracted_reqs: 1, #new_token_ratio: %.4f -> %.4f, KV pool %d tokens",
                newTokenRatio, initRatio, kv.capacity());
    }

    /** Feeds the sequence's next {@code fed} tokens this step, after the entries already planned. */
    private static void add(List<Entry> entries, Sequence s, int fed) {
        int start = entries.isEmpty() ? 0 : entries.getLast().start() + entries.getLast().fed();
        int computed = s.kv.computed();
        int[] lp = new int[0];
        if (s.wantsPromptLogprobs()) {
            int from = Math.max(computed, Math.max(s.params().logprobStartLen() - 1, 0));
            int to = Math.min(computed + fed, s.promptLength - 1);
            if (to > from) {
                lp = new int[to - from];
                for (int i = 0; i < lp.length; i++) lp[i] = from + i;
            }
        }
        boolean decode = fed == 1 && computed == s.length - 1 && s.outputLength() > 0;
        entries.add(new Entry(s, start, fed, lp, computed + fed == s.length, !decode));
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

    /**
     * The waiting sequences in the order they may start: by priority first when priority scheduling is on, then by
     * policy; the sort is stable, so equals keep queue order (arrival, retracted sequences at the head).
     */
    private List<Sequence> ordered() {
        List<Sequence> out = new ArrayList<>(waiting);
        EngineConfig.PriorityScheduling p = config.priority();
        Comparator<Sequence> order = p.enabled() ? (a, b) -> p.compare(p.of(a.request), p.of(b.request)) : null;
        if (config.schedulePolicy() == EngineConfig.SchedulePolicy.LPM && waiting.size() <= LPM_MAX_QUEUE && kv.cachesPrefixes()) {
            Map<Sequence, Integer> matched = new HashMap<>();
            for (Sequence s : waiting) matched.put(s, kv.match(s.tokens, matchLimit(s)).length());
            Comparator<Sequence> longestPrefix = Comparator.comparingInt((Sequence s) -> matched.get(s)).reversed();
            order = order == null ? longestPrefix : order.thenComparing(longestPrefix);
        }
        if (order != null) out.sort(order);
        return out;
    }
}
