package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import kiln.model.Fixture;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every fixture model served with --skip-tokenizer-init: through the HTTP API, greedy ids and prompt logprobs equal
 * HuggingFace's references, for all six prompts sent as one batch (so batching is on the path too).
 */
class FixtureServingTest {
    static String[] names() {
        return Fixture.NAMES;
    }

    @ParameterizedTest
    @MethodSource("names")
    void greedyIdsAndPromptLogprobsEqualTheReferences(String name) {
        Fixture f = Fixture.load(name);
        try (LiveServer live = new LiveServer("--model-path", f.dir().toString(), "--skip-tokenizer-init",
                "--max-total-tokens", "4096", "--skip-server-warmup")) {
            ArrayNode batch = LiveServer.JSON.createArrayNode();
            for (int[] prompt : f.prompts()) batch.add(GenerateApiTest.ids(prompt));
            ObjectNode req = GenerateApiTest.request(batch, f.greedy()[0].length).put("return_logprob", true).put("logprob_start_len", 0);
            ((ObjectNode) req.get("sampling_params")).put("ignore_eos", true);
            LiveServer.Response r = live.post("/generate", req);
            assertEquals(200, r.status(), r.body());
            JsonNode out = r.json();
            assertEquals(f.prompts().length, out.size());
            int vocab = f.vocab();
            for (int p = 0; p < f.prompts().length; p++) {
                JsonNode result = out.get(p);
                GenerateApiTest.assertGreedy(f, p, result.get("output_ids"), name);
                JsonNode input = result.at("/meta_info/input_token_logprobs");
                int[] prompt = f.prompts()[p];
                assertEquals(prompt.length, input.size(), name + " prompt " + p);
                assertTrue(input.get(0).get(0).isNull());
                for (int i = 1; i < prompt.length; i++) {
                    double expected = GenerateApiTest.logSoftmax(f.logits()[p], i - 1, vocab, prompt[i]);
                    assertEquals(expected, input.get(i).get(0).asDouble(), 2e-3 * Math.max(1, Math.abs(expected)),
                            name + " prompt " + p + " logprob of token " + i);
                }
            }
        }
    }
}
