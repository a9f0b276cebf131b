package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import kiln.engine.Engine;
import kiln.engine.Output;
import kiln.engine.SamplingParams;

import java.util.ArrayList;
import java.util.List;

/**
 * SGLang's native {@code POST /generate}: {@code text} or {@code input_ids}, one prompt or a batch, with
 * {@code sampling_params}; answers {@code {"text", "output_ids", "meta_info"}} per sample (a list for a batch or
 * n > 1), or streams the same objects, cumulative, as server-sent events ending with {@code data: [DONE]}.
 */
final class GenerateApi {
    private final Serving serving;
    private final StructuredOutput structured;

    GenerateApi(Serving serving) {
        this.serving = serving;
        this.structured = new StructuredOutput(serving);
    }

    void register(Routes r) {
        r.post("/generate", Http.guarded(this::generate));
        r.put("/generate", Http.guarded(this::generate));
    }

    private record Reporting(boolean logprobs, int topLogprobs, boolean textInLogprobs) {}

    private void generate(ServerRequest req, ServerResponse res) throws Exception {
        long arrival = System.nanoTime();
        Fields body = Fields.of(Http.body(req));
        List<Integer> intervals = new ArrayList<>();
        List<Serving.Submission> items = items(body, intervals);
        boolean batch = body.has("text") ? body.raw("text").isArray() : body.raw("input_ids").get(0).isArray();
        boolean stream = Boolean.TRUE.equals(body.bool("stream"));
        Reporting reporting = new Reporting(items.getFirst().params().returnLogprob(), items.getFirst().params().topLogprobsNum(),
                Boolean.TRUE.equals(body.bool("return_text_in_logprobs")));
        List<Generation> gens = List.of();
        try {
            gens = serving.submit(items, fanout(body), arrival, true);
            boolean list = batch || items.getFirst().params().n() > 1;
            if (stream) {
                stream(res, gens, intervals, reporting, list);
            } else {
                ArrayNode all = Json.array();
                for (Generation g : gens) {
                    g.complete();
                    Output.FinishReason failure = g.failure();
                    if (failure != null) throw Aborts.toError(failure);
                    for (Generation.Sample s : g.samples) all.add(result(g, s, reporting, null));
                }
                Http.sendJson(res, 200, list ? all : all.get(0));
            }
        } finally {
            for (Generation g : gens) g.close();
        }
    }

    private void stream(ServerResponse res, List<Generation> gens, List<Integer> intervals, Reporting reporting, boolean list)
            throws InterruptedException {
        int n = gens.getFirst().params.n();
        try (Sse sse = new Sse(res)) {
            try {
                Streams.merge(gens, (gi, s) -> {
                    if (s.unsentTokens < intervals.get(gi) && !s.finished()) return null;
                    s.unsentTokens = 0;
                    return result(gens.get(gi), s, reporting, list ? gi * n + s.index : null);
                }, sse::event);
            } catch (ApiException e) {
                sse.event(Http.errorBody(e));
            }
            sse.done();
        }
    }

    /** The fields a refusal of the whole request names; n is named only for a single prompt, whose n it is. */
    private static Serving.Fanout fanout(Fields body) {
        JsonNode sp = body.raw("sampling_params");
        return new Serving.Fanout(body.has("text") ? "text" : "input_ids", sp != null && sp.isArray() ? "sampling_params[0].n" : "sampling_params.n");
    }

    /** The request's prompts; {@code intervals} gets each one's stream interval (its sampling_params', else the server's). */
    private List<Serving.Submission> items(Fields body, List<Integer> intervals) {
        RequestFields.check(body, RequestFields.Route.GENERATE);
        boolean hasText = body.has("text"), hasIds = body.has("input_ids");
        if (hasText == hasIds) throw ApiException.badRequest("give exactly one of text and input_ids", hasText ? "input_ids" : "text");
        List<int[]> prompts = new ArrayList<>();
        if (hasText) {
            var tok = serving.requireTokenizer("text");
            for (String t : body.strings("text")) prompts.add(tok.encode(t, true));
        } else {
            JsonNode ids = body.raw("input_ids");
            if (!ids.isArray() || ids.isEmpty()) throw body.wrongType("input_ids", "a non-empty list of token ids (or a list of such lists)", ids);
            if (ids.get(0).isArray()) {
                for (int i = 0; i < ids.size(); i++) prompts.add(tokenIds(ids.get(i), "input_ids[" + i + "]"));
            } else {
                prompts.add(tokenIds(ids, "input_ids"));
            }
        }
        if (prompts.isEmpty()) throw ApiException.badRequest("the batch is empty", hasText ? "text" : "input_ids");
        List<Fields> spList = new ArrayList<>();
        JsonNode sp = body.raw("sampling_params");
        if (sp != null && sp.isArray()) {
            if (sp.size() != prompts.size()) {
                throw ApiException.badRequest("sampling_params has " + sp.size() + " entries for " + prompts.size() + " prompts", "sampling_params");
            }
            for (int i = 0; i < sp.size(); i++) {
                if (!sp.get(i).isObject()) throw ApiException.badRequest("sampling_params[" + i + "] must be an object", "sampling_params");
                spList.add(new Fields((com.fasterxml.jackson.databind.node.ObjectNode) sp.get(i), "sampling_params[" + i + "]."));
            }
        } else {
            Fields one = body.object("sampling_params");
            for (int i = 0; i < prompts.size(); i++) spList.add(one);
        }
        List<String> rids = body.strings("rid");
        if (rids != null && rids.size() != prompts.size()) {
            throw ApiException.badRequest("rid has " + rids.size() + " entries for " + prompts.size() + " prompts", "rid");
        }
        boolean logprob = Boolean.TRUE.equals(body.bool("return_logprob"));
        Integer start = body.integer("logprob_start_len");
        Integer top = body.integer("top_logprobs_num");
        Integer priority = body.integer("priority");
        List<Serving.Submission> items = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            int[] prompt = prompts.get(i);
            SamplingParams.Builder b = SamplingJson.fromSglang(spList.get(i)).returnLogprob(logprob);
            b.constraint(structured.compile(StructuredOutput.sglang(spList.get(i)), prompt));
            if (logprob) {
                int s = start == null ? -1 : start;
                if (s >= prompt.length) {
                    throw ApiException.badRequest("logprob_start_len (" + s + ") must be smaller than the prompt length ("
                            + prompt.length + ")", "logprob_start_len");
                }
                b.logprobStartLen(s).topLogprobsNum(top == null ? 0 : top);
            }
            String prefix = spList.get(i) == null ? "sampling_params." : spList.get(i).prefix();
            SamplingParams params = SamplingJson.build(b, prefix);
            Integer interval = spList.get(i) == null ? null : spList.get(i).integer("stream_interval");
            intervals.add(interval != null ? interval : serving.options.streamInterval());
            String maxField = spList.get(i) != null && spList.get(i).has("max_new_tokens") ? prefix + "max_new_tokens" : null;
            items.add(new Serving.Submission(rids != null ? rids.get(i) : Engine.newRequestId(), prompt, params, maxField, priority));
        }
        return items;
    }

    private int[] tokenIds(JsonNode node, String path) {
        if (!node.isArray() || node.isEmpty()) throw ApiException.badRequest(path + " must be a non-empty list of token ids", "input_ids");
        int[] ids = new int[node.size()];
        for (int i = 0; i < ids.length; i++) ids[i] = Fields.toInt(node.get(i), path + "[" + i + "]");
        return ids;
    }

    private ObjectNode result(Generation g, Generation.Sample s, Reporting r, Integer index) {
        ObjectNode out = Json.object();
        if (serving.tokenizer != null) out.put("text", s.text.toString());
        ArrayNode ids = out.putArray("output_ids");
        for (int i = 0; i < s.length; i++) ids.add(s.ids[i]);
        ObjectNode meta = out.putObject("meta_info");
        meta.put("id", g.id);
        meta.set("finish_reason", finishReason(s));
        meta.put("prompt_tokens", g.promptTokens);
        if (r.logprobs()) {
            Logprobs.Namer namer = Logprobs.namer(r.textInLogprobs() ? serving.tokenizer : null);
            meta.set("input_token_logprobs", Logprobs.sglang(s.promptLogprobs, namer));
            meta.set("output_token_logprobs", Logprobs.sglang(s.logprobs, namer));
            if (r.topLogprobs() > 0) {
                meta.set("input_top_logprobs", Logprobs.sglangTop(s.promptLogprobs, namer));
                meta.set("output_top_logprobs", Logprobs.sglangTop(s.logprobs, namer));
            }
        }
        meta.put("completion_tokens", s.completionTokens);
        meta.put("cached_tokens", s.cachedTokens);
        if (s.finished()) meta.put("e2e_latency", g.elapsedSeconds());
        if (index != null) out.put("index", index);
        return out;
    }

    private static JsonNode finishReason(Generation.Sample s) {
        Output.FinishReason f = s.finish;
        if (f == null) return Json.MAPPER.nullNode();
        ObjectNode o = Json.object();
        o.put("type", f.type());
        switch (f.type()) {
            case "stop" -> {
                if (f.matched() instanceof Integer id) o.put("matched", id);
                else if (f.matched() != null) o.put("matched", f.matched().toString());
                else o.putNull("matched");
            }
            case "length" -> o.put("length", s.completionTokens);
            default -> o.put("message", f.message());
        }
        return o;
    }
}
