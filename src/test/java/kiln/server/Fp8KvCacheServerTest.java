package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import kiln.backend.cpu.CpuBackend;
import kiln.engine.SimpleGenerator;
import kiln.model.Fixture;
import kiln.model.Model;
import kiln.model.Models;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code kiln serve --kv-cache-dtype fp8_e4m3} on the CPU: the server reports the cache type, and its greedy
 * output (continuous batching, chunked prefill, prefix reuse) is what the model gives over an FP8 cache alone.
 */
class Fp8KvCacheServerTest {
    @Test
    void servedGreedyOutputIsTheModelsOverAnFp8Cache() {
        Fixture f = Fixture.load("deepseek-v3-tiny");
        int steps = 8;
        int[][] want = new int[3][];
        try (CpuBackend backend = new CpuBackend(false, true); Model model = Models.load(f.dir(), Models.LoadFormat.AUTO, backend)) {
            for (int p = 0; p < want.length; p++) {
                try (var gen = new SimpleGenerator(model, 512)) {
                    var seq = gen.start(f.prompts()[p + 2]);
                    want[p] = new int[steps];
                    for (int s = 0; s < steps; s++) {
                        float[] logits = gen.step(List.of(seq), 0, false);
                        want[p][s] = SimpleGenerator.argmax(logits, 0, f.vocab());
                        gen.append(seq, want[p][s]);
                    }
                }
            }
        }
        try (LiveServer live = new LiveServer("--model-path", f.dir().toString(), "--skip-tokenizer-init", "--max-total-tokens", "4096",
                "--kv-cache-dtype", "fp8_e4m3", "--chunked-prefill-size", "64")) {
            assertEquals("fp8_e4m3", live.get("/server_info").json().get("kv_cache_dtype").asText());
            for (int round = 0; round < 2; round++) {  // the second round reuses the cached prompts
                for (int p = 0; p < want.length; p++) {
                    JsonNode r = live.post("/generate", GenerateApiTest.request(GenerateApiTest.ids(f.prompts()[p + 2]), steps)).json();
                    assertArrayEquals(want[p], GenerateApiTest.ints(r.get("output_ids")), "prompt " + (p + 2) + " round " + round + ": " + r);
                }
            }
        }
    }
}
