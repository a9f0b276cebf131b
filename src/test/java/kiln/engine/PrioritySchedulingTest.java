package kiln.engine;

import kiln.backend.cpu.CpuBackend;
import kiln.model.Fixture;
import kiln.model.Model;
import kiln.model.Models;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Priority scheduling and the waiting timeout. The queue order and preemption are checked on {@link StepPlanner}
 * itself, step by step as the scheduler drives it (which sequences each planned step admits, in what order); the
 * refusal, preemption's effect on output and the timeout on a real engine with a fixture model.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PrioritySchedulingTest {
    private static final EngineConfig.PriorityScheduling HIGH_FIRST = new EngineConfig.PriorityScheduling(true, false, null, false, 10);
    private Model model;
    private CpuBackend backend;

    @BeforeAll
    void load() {
        backend = new CpuBackend();
        model = Models.load(Fixture.ROOT.resolve("deepseek-v3-tiny"), Models.LoadFormat.AUTO, backend, 1);
    }

    @AfterAll
    void close() {
        model.close();
        backend.close();
    }

    // ---- the planner alone ----

    /** A planner over a pool of its own, and what each step it plans does to the sequences (as Scheduler applies it). */
    private static final class Planner {
        final KvSlots kv = new KvSlots(4096, true);
        final List<Sequence> started = new ArrayList<>();
        final StepPlanner planner;

        Planner(EngineConfig config) {
            planner = new StepPlanner(config, kv, new Counters(), started::add);
        }

        Sequence enqueue(String id, Integer priority, int promptLength) {
            int[] prompt = new int[promptLength];
            for (int i = 0; i < promptLength; i++) prompt[i] = 100 + id.hashCode() % 50 + i;
            Sequence s = new Sequence(new Request(id, prompt, SamplingParams.builder().maxNewTokens(64).build(), priority), 0, 0L);
            planner.enqueue(List.of(s));
            return s;
        }

        /** Plans one step and applies it as a forward would: KV computed, prompts cached, one token per sampling row. */
        List<String> step() {
            List<String> fed = new ArrayList<>();
            for (StepPlanner.Entry e : planner.plan().entries()) {
                kv.computed(e.seq(), e.fed());
                if (e.prefill()) kv.cacheUnfinished(e.seq());
                if (e.samples()) e.seq().append(7);
                fed.add(e.seq().request.id());
            }
            return fed;
        }

        void finish(Sequence s) {
            kv.release(s, true);
            planner.remove(s);
        }

        List<String> startedIds() {
            return started.stream().map(s -> s.request.id()).toList();
        }

        void checkIntegrity() {
            kv.checkIntegrity(planner.live());
        }
    }

    private static EngineConfig config(EngineConfig.PriorityScheduling p, int maxRunning) {
        return EngineConfig.defaults().withMaxRunningRequests(maxRunning).withPriorityScheduling(p);
    }

    @Test
    void higherValuesStartFirstByDefaultArrivalOrderAmongEqualsAndNoPriorityLast() {
        Planner p = new Planner(config(HIGH_FIRST, 256));
        p.enqueue("a1", 1, 8);
        p.enqueue("none", null, 8);
        p.enqueue("b5", 5, 8);
        p.enqueue("c5", 5, 8);
        p.enqueue("neg", -3, 8);
        p.enqueue("e1", 1, 8);
        assertEquals(List.of("b5", "c5", "a1", "e1", "neg", "none"), p.step(), "one prefill admits all, in priority order");
        assertEquals(List.of("b5", "c5", "a1", "e1", "neg", "none"), p.startedIds());
        p.checkIntegrity();
    }

    @Test
    void lowValuesFirstAndADefaultValue() {
        var lowFirst = new EngineConfig.PriorityScheduling(true, true, null, false, 10);
        Planner p = new Planner(config(lowFirst, 256));
        p.enqueue("none", null, 8);
        p.enqueue("p5", 5, 8);
        p.enqueue("p0", 0, 8);
        p.enqueue("p5b", 5, 8);
        assertEquals(List.of("p0", "p5", "p5b", "none"), p.step(), "lower first; without a priority after every one that has one");

        var withDefault = new EngineConfig.PriorityScheduling(true, true, 3, false, 10);
        Planner d = new Planner(config(withDefault, 256));
        d.enqueue("p5", 5, 8);
        d.enqueue("none", null, 8);
        d.enqueue("p0", 0, 8);
        assertEquals(List.of("p0", "none", "p5"), d.step(), "a request without a priority takes --default-priority-value 3");
    }

    @Test
    void withoutPrioritySchedulingTheQueueIsFirstComeFirstServed() {
        Planner p = new Planner(config(EngineConfig.PriorityScheduling.OFF, 256));
        p.enqueue("x", null, 8);
        p.enqueue("y", null, 8);
        p.enqueue("z", null, 8);
        assertEquals(List.of("x", "y", "z"), p.step());
    }

    @Test
    void onePlaceIsGivenByPriorityAsPlacesFreeUp() {
        Planner p = new Planner(config(HIGH_FIRST, 1));
        Sequence first = p.enqueue("first", 0, 8);
        assertEquals(List.of("first"), p.step());
        Sequence low = p.enqueue("low", 1, 8);
        Sequence high = p.enqueue("high", 9, 8);
        assertEquals(List.of("first"), p.step(), "no place, no preemption: the running one decodes");
        p.finish(first);
        assertEquals(List.of("high"), p.step(), "the later, higher request takes the freed place");
        p.finish(high);
        assertEquals(List.of("low"), p.step());
        p.finish(low);
        p.checkIntegrity();
    }

    @Test
    void preemptionRetractsTheLeastPreferredRunningSequenceOnlyPastTheThreshold() {
        var preempting = new EngineConfig.PriorityScheduling(true, false, null, true, 10);
        Planner p = new Planner(config(preempting, 2));
        Sequence p0 = p.enqueue("p0", 0, 8);
        Sequence p5 = p.enqueue("p5", 5, 8);
        assertEquals(List.of("p5", "p0"), p.step());
        assertEquals(List.of("p5", "p0"), p.step(), "both decode");
        p.enqueue("p12", 12, 8);
        assertEquals(List.of("p12"), p.step(), "no place left: p12 takes one by preemption");
        assertEquals(List.of(p0), p.planner.waiting(), "p0, outranked by 12 (>= 10), was retracted; p5 (12 - 5 < 10) runs on");
        assertEquals(2, p.planner.runningCount(), "p5 and p12 run");
        p.checkIntegrity();
        // p0 resumes once a place frees up, recomputing its prompt and output
        p.finish(p5);
        int before = p0.outputLength();
        for (int i = 0; i < 4 && !p.step().contains("p0"); i++) {
            // p12's decode steps alternate with prefill turns
        }
        assertTrue(p.planner.live().contains(p0) && !p.planner.waiting().contains(p0), "p0 runs again");
        assertEquals(before + 1, p0.outputLength(), "its recomputed prefill samples its next token");
        p.checkIntegrity();
    }

    @Test
    void withoutPreemptionARunningSequenceIsNeverRetractedForPriority() {
        Planner p = new Planner(config(HIGH_FIRST, 1));
        p.enqueue("p0", 0, 8);
        assertEquals(List.of("p0"), p.step());
        p.enqueue("p100", 100, 8);
        for (int i = 0; i < 3; i++) assertEquals(List.of("p0"), p.step());
        assertEquals(1, p.planner.waitingCount());
        p.checkIntegrity();
    }

    // ---- a real engine ----

    private Request greedy(String id, Integer priority, int[] prompt, int newTokens) {
        return new Request(id, prompt, SamplingParams.builder().temperature(0).maxNewTokens(newTokens).ignoreEos(true).build(), priority);
    }

    @Test
    void aPriorityWithoutPrioritySchedulingIsRefused() throws Exception {
        try (Engine engine = new Engine(model, EngineConfig.defaults().withMaxTotalTokens(2048), Set.of(), null)) {
            EngineException e = assertThrows(EngineException.class, () -> engine.submit(greedy("p", 3, new int[]{5, 6, 7}, 2)));
            assertEquals("priority", e.field());
            assertTrue(e.getMessage().contains("--enable-priority-scheduling"), e.getMessage());
            assertEquals(0, engine.queuedSequences(), "nothing was queued");
            EngineTest.assertKvIntact(engine);
        }
    }

    @Test
    void aPreemptedRequestResumesAndWritesWhatItWritesAlone() throws Exception {
        int[] lowPrompt = {11, 12, 13, 14, 15, 16}, highPrompt = {21, 22, 23};
        int[] lowAlone = EngineTest.alone(model, lowPrompt, 40), highAlone = EngineTest.alone(model, highPrompt, 6);
        var preempting = new EngineConfig.PriorityScheduling(true, false, null, true, 10);
        EngineConfig cfg = EngineConfig.defaults().withMaxTotalTokens(2048).withMaxRunningRequests(1).withPriorityScheduling(preempting);
        try (Engine engine = new Engine(model, cfg, Set.of(), null)) {
            RequestHandle low = engine.submit(greedy("low", 0, lowPrompt, 40));
            Output first = low.poll(30, TimeUnit.SECONDS);
            assertNotNull(first, "the low-priority request started");
            RequestHandle high = engine.submit(greedy("high", 50, highPrompt, 6));
            EngineTest.Result h = EngineTest.collect(high);
            assertArrayEquals(highAlone, h.tokens());
            List<Integer> tokens = new ArrayList<>();
            for (int t : first.tokenIds()) tokens.add(t);
            EngineTest.Result rest = EngineTest.collect(low);
            for (int t : rest.tokens()) tokens.add(t);
            assertArrayEquals(lowAlone, tokens.stream().mapToInt(Integer::intValue).toArray(), "retracted, recomputed, same tokens");
            EngineTest.waitIdle(engine);
            assertTrue(engine.stats().retractedTotal() >= 1, "the high-priority request did not preempt");
            EngineTest.assertKvIntact(engine);
        }
    }

    @Test
    void aRequestThatWaitsPastTheTimeoutEndsWithAnAbortAndARunningOneDoesNot() throws Exception {
        EngineConfig cfg = EngineConfig.defaults().withMaxTotalTokens(4096).withMaxRunningRequests(1).withWaitingTimeoutSeconds(0.2);
        try (Engine engine = new Engine(model, cfg, Set.of(), null)) {
            RequestHandle running = engine.submit(greedy("running", null, new int[]{5, 6, 7}, 3000));
            assertNotNull(running.poll(30, TimeUnit.SECONDS), "the first request started");
            // the only running place is taken until the test cancels the first request, so the second cannot start
            RequestHandle waiting = engine.submit(greedy("waiting", null, new int[]{8, 9}, 4));
            EngineTest.Result w = EngineTest.collect(waiting);
            assertEquals("abort", w.finish().type());
            assertTrue(w.finish().message().startsWith(Engine.WAITING_TIMEOUT), w.finish().message());
            assertTrue(w.finish().message().contains("--req-waiting-timeout 0.2"), w.finish().message());
            assertEquals(0, w.tokens().length);
            // the running request outlived the timeout too, but it is not waiting: it goes on
            assertTrue(!running.ended() && running.poll(30, TimeUnit.SECONDS) != null, "the running request stopped");
            running.cancel();
            assertEquals(Scheduler.ABORTED_BY_CLIENT, EngineTest.collect(running).finish().message());
            assertEquals(0, engine.queuedSequences(), "the expired request gave its queue place back");
            // a later request that can start at once is not touched by the timeout
            EngineTest.Result later = EngineTest.collect(engine.submit(greedy("later", null, new int[]{8, 9}, 4)));
            assertEquals("length", later.finish().type());
            EngineTest.assertKvIntact(engine);
        }
    }
}
