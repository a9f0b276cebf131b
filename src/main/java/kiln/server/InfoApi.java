package kiln.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import kiln.engine.Engine;
import kiln.engine.EngineStats;
import kiln.engine.SamplingParams;

import java.io.ByteArrayOutputStream;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Health, model and server information, cache flush, aborts and metrics. */
final class InfoApi {
    private static final long HEALTH_TIMEOUT_SECONDS = 20;
    private final Serving serving;

    InfoApi(Serving serving) {
        this.serving = serving;
    }

    void register(Routes r) {
        r.get("/health", Http.guarded(this::health));
        r.get("/health_generate", Http.guarded(this::healthGenerate));
        r.get("/v1/models", Http.guarded(this::models));
        r.get("/v1/models/{+id}", Http.guarded(this::model));
        r.get("/model_info", Http.guarded(this::modelInfo));
        r.get("/get_model_info", Http.guarded(this::modelInfo));
        r.get("/server_info", Http.guarded(this::serverInfo));
        r.get("/get_server_info", Http.guarded(this::serverInfo));
        r.get("/flush_cache", Http.guarded(this::flushCache));
        r.post("/flush_cache", Http.guarded(this::flushCache));
        r.post("/abort_request", Http.guarded(this::abort));
        r.get("/metrics", Http.guarded(this::metrics));
    }

    private void health(ServerRequest req, ServerResponse res) {
        checkUp();
        res.status(200).send();
    }

    /** Up only if a one-token generation comes back within the timeout (SGLang's /health_generate). */
    private void healthGenerate(ServerRequest req, ServerResponse res) throws InterruptedException {
        checkUp();
        SamplingParams p = SamplingParams.builder().temperature(0).maxNewTokens(1).ignoreEos(true).build();
        try (Generation g = serving.submit(new Serving.Submission("HEALTH_CHECK_" + Engine.newRequestId(), new int[]{0}, p, null), null,
                System.nanoTime(), false)) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(HEALTH_TIMEOUT_SECONDS);
            while (!g.ended() && System.nanoTime() < deadline) g.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
            if (!g.ended()) throw ApiException.unavailable("no token within " + HEALTH_TIMEOUT_SECONDS + " s: the engine is stuck", 5);
        }
        res.status(200).send();
    }

    private void checkUp() {
        switch (serving.state()) {
            case STARTING -> throw ApiException.unavailable("the server is starting (loading or warming up)", 5);
            case DRAINING -> throw ApiException.unavailable("the server is shutting down", 5);
            case READY -> {
            }
        }
    }

    private ObjectNode card() {
        ObjectNode m = Json.object();
        m.put("id", serving.modelName);
        m.put("object", "model");
        m.put("created", serving.startedAtSeconds);
        m.put("owned_by", "kiln");
        m.put("root", serving.modelName);
        m.put("max_model_len", serving.engine.contextLength());
        return m;
    }

    private void models(ServerRequest req, ServerResponse res) {
        ObjectNode list = Json.object();
        list.put("object", "list");
        list.putArray("data").add(card());
        Http.sendJson(res, 200, list);
    }

    private void model(ServerRequest req, ServerResponse res) {
        String id = req.pathParameter("id");
        if (!id.equals(serving.modelName)) {
            throw new ApiException(404, "invalid_request_error", "the model '" + id + "' does not exist; this server serves '"
                    + serving.modelName + "'", "model", "model_not_found", null);
        }
        Http.sendJson(res, 200, card());
    }

    private void modelInfo(ServerRequest req, ServerResponse res) {
        ObjectNode o = Json.object();
        o.put("model_path", serving.options.modelPath());
        o.put("tokenizer_path", serving.options.tokenizerPath());
        o.put("served_model_name", serving.modelName);
        o.put("is_generation", true);
        o.putNull("preferred_sampling_params");
        o.put("weight_version", "default");
        o.put("architecture", serving.engine.model().config().architecture());
        o.put("context_length", serving.engine.contextLength());
        o.put("vocab_size", serving.engine.model().config().vocabSize());
        Http.sendJson(res, 200, o);
    }

    private void serverInfo(ServerRequest req, ServerResponse res) {
        ObjectNode o = Json.object();
        for (Map.Entry<String, Object> e : serving.options.serverArgs().entrySet()) o.set(e.getKey(), Json.MAPPER.valueToTree(e.getValue()));
        EngineStats s = serving.engine.stats();
        o.put("max_total_num_tokens", serving.engine.kvCapacity());
        o.put("context_length", serving.engine.contextLength());
        o.put("max_req_input_len", serving.engine.contextLength() - 1);
        o.put("backend", serving.engine.model().backend().name());
        ArrayNode states = o.putArray("internal_states");
        ObjectNode st = states.addObject();
        st.put("num_running_reqs", s.runningRequests());
        st.put("num_queue_reqs", s.queuedRequests());
        st.put("kv_used_tokens", s.kvUsedTokens());
        st.put("kv_cached_tokens", s.kvCachedTokens());
        st.put("kv_total_tokens", s.kvTotalTokens());
        st.put("cache_hit_rate", s.cacheHitRate());
        st.put("new_token_ratio", s.newTokenRatio());
        o.put("version", KilnServer.VERSION);
        Http.sendJson(res, 200, o);
    }

    private void flushCache(ServerRequest req, ServerResponse res) {
        if (serving.engine.flushCache()) {
            Http.sendText(res, 200, "Cache flushed.\n");
        } else {
            throw ApiException.badRequest("the cache was not flushed: requests are running or waiting (flush when idle)", null);
        }
    }

    private void abort(ServerRequest req, ServerResponse res) {
        Fields body = Fields.of(Http.body(req));
        String rid = body.string("rid");
        boolean all = Boolean.TRUE.equals(body.bool("abort_all"));
        if (rid == null && !all) throw ApiException.badRequest("give rid (a request id) or abort_all: true", "rid");
        if (all) serving.abortAll(Aborts.BY_CLIENT);
        else serving.engine.abort(rid);
        res.status(200).send();
    }

    private void metrics(ServerRequest req, ServerResponse res) throws Exception {
        if (serving.metrics == null) throw ApiException.notFound("metrics are off: start the server with --enable-metrics", "not_found");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        serving.metrics.write(out);
        res.status(200);
        res.header("Content-Type", ServerMetrics.CONTENT_TYPE);
        res.send(out.toByteArray());
    }
}
