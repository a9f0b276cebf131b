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
 * OpenAI's {@code POST /v1/completions}: a prompt as text, a list of texts, token ids or a list of token-id lists;
 * {@code n}, {@code echo}, {@code logprobs}, {@code stream} with {@code stream_options.include_usage}. Without a
 * tokenizer (--skip-tokenizer-init) choices carry {@code token_ids} and empty text.
 */
final class CompletionsApi {
    private static final int DEFAULT_MAX_TOKENS = 16;
    private final Serving serving;
    private final StructuredOutput structured;

    CompletionsApi(Serving serving) {
        this.serving = serving;
        this.structured = new StructuredOutput(serving);
    }

    void register(Routes r) {
        r.post("/v1/completions", Http.guarded(this::complete));
    }

    private record Prompt(int[] ids, String text) {}

    private final class Request {
        final Fields body;
        final List<Prompt> prompts;
        final SamplingParams params;
        /** response_format or json_schema / regex / ebnf, compiled per prompt (the grammar may wait for the reasoning). */
        final StructuredOutput.Spec constraint;
        final boolean echo, stream, usage;
        final int logprobs; // -1: none
        final String id = "cmpl-" + Engine.newRequestId();
        final long created = OpenAi.now();
        final Logprobs.Namer namer = Logprobs.openAiNamer(serving.tokenizer);

        Request(Fields body) {
            this.body = body;
            serving.checkModel(body.string("model"));
            RequestFields.check(body, RequestFields.Route.COMPLETIONS);
            OpenAi.refuseUnsupported(body);
            prompts = prompts(body);
            constraint = StructuredOutput.openAi(body);
            echo = Boolean.TRUE.equals(body.bool("echo"));
            stream = Boolean.TRUE.equals(body.bool("stream"));
            usage = OpenAi.includeUsage(body);
            Integer lp = body.integer("logprobs");
            if (lp != null && (lp < 0 || lp > 20)) throw ApiException.badRequest("logprobs must be in [0, 20], got " + lp, "logprobs");
            logprobs = lp == null ? -1 : lp;
            SamplingParams.Builder b = SamplingJson.fromOpenAi(body, DEFAULT_MAX_TOKENS);
            if (logprobs >= 0) b.returnLogprob(true).topLogprobsNum(logprobs).logprobStartLen(echo ? 0 : -1);
            params = SamplingJson.build(b, "");
        }

        String maxTokensField() {
            return body.has("max_tokens") ? "max_tokens" : body.has("max_completion_tokens") ? "max_completion_tokens" : null;
        }
    }

    private void complete(ServerRequest req, ServerResponse res) throws Exception {
        long arrival = System.nanoTime();
        Request r = new Request(Fields.of(Http.body(req)));
        List<Serving.Submission> subs = new ArrayList<>();
        Integer priority = r.body.integer("priority");
        for (Prompt p : r.prompts) {
            SamplingParams params = r.constraint == null ? r.params : r.params.toBuilder().constraint(structured.compile(r.constraint, p.ids())).build();
            subs.add(new Serving.Submission(Engine.newRequestId(), p.ids(), params, r.maxTokensField(), priority));
        }
        List<Generation> gens = List.of();
        try {
            gens = serving.submit(subs, new Serving.Fanout("prompt", "n"), arrival, true);
            if (r.stream) stream(res, r, gens);
            else respond(res, r, gens);
        } finally {
            for (Generation g : gens) g.close();
        }
    }

    private void respond(ServerResponse res, Request r, List<Generation> gens) throws InterruptedException {
        ArrayNode choices = Json.array();
        for (int gi = 0; gi < gens.size(); gi++) {
            Generation g = gens.get(gi).complete();
            Output.FinishReason failure = g.failure();
            if (failure != null) throw Aborts.toError(failure);
            for (Generation.Sample s : g.samples) {
                ObjectNode c = choices.addObject();
                c.put("index", gi * r.params.n() + s.index);
                Prompt p = r.prompts.get(gi);
                String prefix = r.echo && p.text() != null ? p.text() : "";
                c.put("text", prefix + s.text);
                if (r.logprobs >= 0) {
                    ObjectNode lp = Json.object();
                    int offset = 0;
                    if (r.echo) offset = Logprobs.appendCompletion(lp, s.promptLogprobs, r.namer, offset, r.logprobs);
                    Logprobs.appendCompletion(lp, s.logprobs, r.namer, offset, r.logprobs);
                    c.set("logprobs", lp);
                } else {
                    c.putNull("logprobs");
                }
                c.put("finish_reason", OpenAi.finishReason(s.finish));
                c.set("matched_stop", OpenAi.matchedStop(s.finish));
                if (serving.tokenizer == null) tokenIds(c, r.echo ? p.ids() : new int[0], s);
            }
        }
        ObjectNode out = envelope(r);
        out.set("choices", choices);
        out.set("usage", OpenAi.usage(gens));
        Http.sendJson(res, 200, out);
    }

    private void stream(ServerResponse res, Request r, List<Generation> gens) throws InterruptedException {
        int interval = serving.options.streamInterval();
        try (Sse sse = new Sse(res)) {
            Streams.merge(gens, (gi, s) -> {
                boolean first = s.sentLength == 0 && s.sentTextLength == 0 && s.sentLogprobs == 0;
                if (s.unsentTokens < interval && !s.finished() && !(first && r.echo)) return null;
                // as SGLang: a sample the engine failed (a waiting timeout, a shutdown) ends in an error event
                if (s.finished() && Aborts.isFailure(s.finish)) return Http.errorBody(Aborts.toError(s.finish));
                s.unsentTokens = 0;
                ObjectNode chunk = envelope(r);
                ObjectNode c = chunk.putArray("choices").addObject();
                c.put("index", gi * r.params.n() + s.index);
                Prompt p = r.prompts.get(gi);
                String prefix = first && r.echo && p.text() != null ? p.text() : "";
                c.put("text", prefix + s.text.substring(s.sentTextLength));
                s.sentTextLength = s.text.length();
                if (r.logprobs >= 0) {
                    ObjectNode lp = Json.object();
                    if (first && r.echo) Logprobs.appendCompletion(lp, s.promptLogprobs, r.namer, 0, r.logprobs);
                    Logprobs.appendCompletion(lp, s.logprobs.subList(s.sentLogprobs, s.logprobs.size()), r.namer, 0, r.logprobs);
                    s.sentLogprobs = s.logprobs.size();
                    c.set("logprobs", lp);
                } else {
                    c.putNull("logprobs");
                }
                c.put("finish_reason", OpenAi.finishReason(s.finish));
                c.set("matched_stop", OpenAi.matchedStop(s.finish));
                if (serving.tokenizer == null) {
                    ArrayNode ids = c.putArray("token_ids");
                    if (first && r.echo) for (int id : p.ids()) ids.add(id);
                    for (int i = s.sentLength; i < s.length; i++) ids.add(s.ids[i]);
                }
                s.sentLength = s.length;
                return chunk;
            }, sse::event);
            if (r.usage) {
                ObjectNode last = envelope(r);
                last.putArray("choices");
                last.set("usage", OpenAi.usage(gens));
                sse.event(last);
            }
            sse.done();
        }
    }

    private ObjectNode envelope(Request r) {
        ObjectNode o = Json.object();
        o.put("id", r.id);
        o.put("object", "text_completion");
        o.put("created", r.created);
        o.put("model", serving.modelName);
        return o;
    }

    private static void tokenIds(ObjectNode c, int[] prefix, Generation.Sample s) {
        ArrayNode ids = c.putArray("token_ids");
        for (int id : prefix) ids.add(id);
        for (int i = 0; i < s.length; i++) ids.add(s.ids[i]);
    }

    private List<Prompt> prompts(Fields body) {
        JsonNode p = body.raw("prompt");
        if (p == null) throw ApiException.badRequest("prompt is required", "prompt");
        List<Prompt> out = new ArrayList<>();
        if (p.isTextual()) {
            out.add(textPrompt(p.asText()));
        } else if (p.isArray() && !p.isEmpty()) {
            JsonNode first = p.get(0);
            if (first.isNumber()) {
                out.add(idsPrompt(p, "prompt"));
            } else {
                for (int i = 0; i < p.size(); i++) {
                    JsonNode e = p.get(i);
                    if (e.isTextual() && first.isTextual()) out.add(textPrompt(e.asText()));
                    else if (e.isArray() && first.isArray()) out.add(idsPrompt(e, "prompt[" + i + "]"));
                    else throw body.wrongType("prompt", "a string, a list of strings, a list of token ids, or a list of token-id lists", p);
                }
            }
        } else {
            throw body.wrongType("prompt", "a non-empty string, list of strings, list of token ids, or list of token-id lists", p);
        }
        return out;
    }

    private Prompt textPrompt(String text) {
        if (text.isEmpty()) throw ApiException.badRequest("prompt must not be empty", "prompt");
        return new Prompt(serving.requireTokenizer("a text prompt").encode(text, true), text);
    }

    private Prompt idsPrompt(JsonNode node, String path) {
        if (node.isEmpty()) throw ApiException.badRequest(path + " must not be empty", "prompt");
        int[] ids = new int[node.size()];
        for (int i = 0; i < ids.length; i++) ids[i] = Fields.toInt(node.get(i), path + "[" + i + "]");
        String text = serving.tokenizer == null ? null : serving.tokenizer.decode(ids, false);
        return new Prompt(ids, text);
    }
}
