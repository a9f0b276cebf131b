package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code kiln serve --tp 2} on the CPU with the default model: the official OpenAI Node SDK runs against it, and its
 * greedy answers through the OpenAI routes are those of the same server with one rank.
 *
 * <p>The default model's FP8 weights split into whole 128x128 scale blocks at tp 2 (8 heads of 64 + 64 query rows,
 * 64-wide values, 512-wide experts); R1's own dimensions split at tp 2 to 16 (DeepseekR1ShardsTest).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TensorParallelServerTest {
    private static final String KEY = "sk-kiln-node-sdk";
    private LiveServer one, two;

    private static LiveServer serve(int tp) {
        return new LiveServer("--device", "cpu", "--tp", String.valueOf(tp),
                "--api-key", KEY, "--reasoning-parser", "deepseek-r1", "--tool-call-parser", "deepseekv3",
                "--max-total-tokens", "16384", "--enable-metrics").withKey(KEY);
    }

    @BeforeAll
    void start() {
        one = serve(1);
        two = serve(2);
    }

    @AfterAll
    void stop() {
        if (two != null) two.close();
        if (one != null) one.close();
    }

    @Test
    void officialOpenAiNodeSdk() throws Exception {
        DefaultModelServerTest.runOfficialNodeSdk(two, KEY);
        two.awaitMetric("kiln_kv_used_tokens", 0);
    }

    @Test
    void serverInfoReportsTheTensorParallelSize() {
        JsonNode info = two.get("/server_info").json();
        assertEquals(2, info.get("tp_size").asInt());
        assertEquals(1, info.get("ep_size").asInt());
        assertEquals(16384, info.get("max_total_num_tokens").asInt());
        assertTrue(info.get("backend").asText().contains("tp rank 0 of 2"), info.get("backend").asText());
        assertEquals(1, one.get("/server_info").json().get("tp_size").asInt());
    }

    @Test
    void greedyAnswersEqualOneRanks() {
        for (String question : List.of("Name a colour.", "Count to three.", "What is the weather in Paris?")) {
            ObjectNode chat = LiveServer.JSON.createObjectNode().put("model", "kiln-default-r1-tiny").put("max_tokens", 24).put("temperature", 0);
            chat.putArray("messages").addObject().put("role", "user").put("content", question);
            JsonNode a = answer(one, "/v1/chat/completions", chat), b = answer(two, "/v1/chat/completions", chat);
            assertEquals(a.at("/choices/0/message"), b.at("/choices/0/message"), question);
            assertEquals(a.get("usage"), b.get("usage"), question);
        }
        ObjectNode completion = LiveServer.JSON.createObjectNode().put("model", "kiln-default-r1-tiny").put("prompt", "Once upon a time")
                .put("max_tokens", 16).put("temperature", 0).put("logprobs", 2);
        JsonNode a = answer(one, "/v1/completions", completion).at("/choices/0"), b = answer(two, "/v1/completions", completion).at("/choices/0");
        assertEquals(a.get("text"), b.get("text"));
        assertEquals(a.at("/logprobs/tokens"), b.at("/logprobs/tokens"));
        JsonNode la = a.at("/logprobs/token_logprobs"), lb = b.at("/logprobs/token_logprobs");
        for (int i = 0; i < la.size(); i++) assertEquals(la.get(i).asDouble(), lb.get(i).asDouble(), 1e-3, "logprob of token " + i);
    }

    private static JsonNode answer(LiveServer server, String path, JsonNode body) {
        LiveServer.Response r = server.post(path, body);
        assertEquals(200, r.status(), r.body());
        return r.json();
    }
}
