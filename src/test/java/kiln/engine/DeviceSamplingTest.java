package kiln.engine;

import kiln.backend.TracingBackend;
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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Where the engine samples, seen from the backend: the fixture model runs on the CPU behind a {@link TracingBackend}
 * (tracing off) that records every download the engine makes. Plain requests must never bring a step's logits to
 * the host; a request that needs them (logprobs, penalties, min_p, min_new_tokens) makes its steps sample on the
 * host, and every request in such a batch gets what the host-only engine gives.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DeviceSamplingTest {
    private TracingBackend backend;
    private Model model;
    private int vocab;

    @BeforeAll
    void load() {
        backend = new TracingBackend(new CpuBackend());
        backend.tracing(false);
        model = Models.load(Fixture.ROOT.resolve("qwen2-tiny"), Models.LoadFormat.AUTO, backend);
        vocab = model.config().vocabSize();
    }

    @AfterAll
    void close() {
        model.close();
        backend.close();
    }

    /** Downloads of a non-empty [rows, vocab] tensor: a step's logits. */
    private long logitDownloads() {
        return backend.downloads().stream().filter(d -> !d.startsWith("0x") && d.endsWith("x" + vocab)).count();
    }

    private List<EngineTest.Transcript> run(boolean deviceSampling, List<Request> requests, EngineStats[] stats) throws Exception {
        EngineConfig cfg = EngineConfig.defaults().withMaxTotalTokens(4096).withDeviceSampling(deviceSampling);
        try (Engine engine = new Engine(model, cfg, Set.of(), null)) {
            List<EngineTest.Transcript> out = EngineTest.transcripts(engine, requests);
            EngineTest.waitIdle(engine);
            stats[0] = engine.stats();
            EngineTest.assertKvIntact(engine);
            return out;
        }
    }

    @Test
    void plainRequestsBringOnlyTokenIdsToTheHost() throws Exception {
        List<Request> requests = EngineTest.plainRequests(41);
        EngineStats[] stats = new EngineStats[1];
        backend.clearDownloads();
        run(true, requests, stats);
        assertEquals(0, logitDownloads(), "logits downloaded for plain requests: " + backend.downloads());
        assertEquals(0, stats[0].hostSampledSteps());
        assertTrue(stats[0].deviceSampledSteps() > 0);

        // the same requests with the switch off: every sampling step downloads its logits (so the count above is real)
        backend.clearDownloads();
        run(false, requests, stats);
        assertEquals(stats[0].hostSampledSteps(), logitDownloads(), backend.downloads().toString());
        assertTrue(stats[0].hostSampledSteps() > 0);
    }

    @Test
    void requestsThatNeedTheLogitsSampleOnTheHostAndTheirBatchStaysRight() throws Exception {
        List<int[]> prompts = EngineTest.prompts(6, 43);
        SamplingParams.Builder base = SamplingParams.builder().maxNewTokens(10).ignoreEos(true);
        List<Request> needHost = List.of(
                new Request("logprobs", prompts.get(0), base.temperature(0).returnLogprob(true).topLogprobsNum(3).logprobStartLen(0).build()),
                new Request("penalties", prompts.get(1), base.temperature(0.9f).seed(7L).repetitionPenalty(1.3f).frequencyPenalty(0.5f)
                        .presencePenalty(0.2f).returnLogprob(false).logprobStartLen(-1).topLogprobsNum(0).build()),
                new Request("min-p", prompts.get(2), SamplingParams.builder().maxNewTokens(10).ignoreEos(true).temperature(1f).minP(0.05f).seed(8L).build()),
                new Request("min-new", prompts.get(3), SamplingParams.builder().maxNewTokens(10).temperature(0.8f).seed(9L)
                        .minNewTokens(4).stopTokenIds(List.of(prompts.get(3)[0])).build()));
        List<Request> requests = new ArrayList<>(EngineTest.plainRequests(47));
        requests.addAll(needHost);
        EngineStats[] stats = new EngineStats[1];

        // each kind alone samples on the host; min_new_tokens only while its bans last (4 tokens), then on the device
        for (Request r : needHost) {
            backend.clearDownloads();
            run(true, List.of(r), stats);
            if (r.id().equals("min-new")) assertEquals(4, stats[0].hostSampledSteps(), stats[0].toString());
            else assertEquals(0, stats[0].deviceSampledSteps(), r.id() + " sampled on the device");
            assertEquals(stats[0].hostSampledSteps(), logitDownloads(), r.id());
        }

        List<String> host = EngineTest.texts(run(false, requests, stats));
        List<EngineTest.Transcript> mixed = run(true, requests, stats);
        assertEquals(host, EngineTest.texts(mixed));
        assertTrue(stats[0].hostSampledSteps() > 0, stats[0].toString());
        // the greedy request with logprobs got the greedy tokens, and its logprobs came along
        EngineTest.Transcript lp = mixed.get(requests.indexOf(needHost.getFirst()));
        assertArrayEquals(EngineTest.alone(model, prompts.get(0), 10), lp.firstSample());
        assertTrue(lp.text().contains(" lp ") && lp.text().contains(" prompt "), lp.text());
    }
}
