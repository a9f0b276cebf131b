package kiln.server;

import kiln.model.Fixture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.net.http.HttpRequest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** --api-key: 401 without the right bearer key, except for health and metrics; the warmup uses the key itself. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AuthTest {
    private static final String KEY = "sk-kiln-test-0123456789";
    private LiveServer live;

    @BeforeAll
    void start() {
        // with warmup: it must authenticate against its own server
        live = new LiveServer("--model-path", Fixture.ROOT.resolve("qwen2-tiny").toString(), "--skip-tokenizer-init",
                "--max-total-tokens", "2048", "--enable-metrics", "--api-key", KEY);
    }

    @AfterAll
    void stop() {
        live.close();
    }

    private LiveServer.Response post(String authorization) {
        HttpRequest.Builder b = live.request("/generate").header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                "{\"input_ids\": [5, 6], \"sampling_params\": {\"max_new_tokens\": 2}}"));
        if (authorization != null) b.header("Authorization", authorization);
        return live.send(b.build());
    }

    @Test
    void missingOrWrongKeysGet401() {
        for (String auth : new String[]{null, "Bearer wrong", "Bearer " + KEY + "x", "Bearer " + KEY.substring(1), KEY, "Basic " + KEY, "Bearer "}) {
            LiveServer.Response r = post(auth);
            assertEquals(401, r.status(), "Authorization: " + auth + " -> " + r.body());
            assertEquals("invalid_api_key", r.json().at("/error/code").asText());
            assertTrue(r.headers().firstValue("WWW-Authenticate").isPresent());
            // the body was never read, so the server closes the connection: the client must not reuse it
            assertEquals("close", r.headers().firstValue("Connection").orElse(null), "Authorization: " + auth);
        }
        assertEquals(401, live.get("/v1/models").status());
        assertEquals(401, live.get("/server_info").status());
        assertEquals(401, live.get("/no-such-route").status(), "unknown routes do not reveal themselves without a key");
    }

    @Test
    void theRightKeyIsAccepted() {
        assertEquals(200, post("Bearer " + KEY).status());
        assertEquals(200, post("bearer " + KEY).status(), "the scheme is case-insensitive");
        assertEquals(200, live.send(live.request("/v1/models").header("Authorization", "Bearer " + KEY).GET().build()).status());
    }

    @Test
    void healthAndMetricsStayOpen() {
        assertEquals(200, live.get("/health").status());
        assertEquals(200, live.get("/health_generate").status());
        assertEquals(200, live.get("/metrics").status());
        assertTrue(live.get("/metrics").body().contains("kiln_kv_total_tokens"));
    }
}
