package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import kiln.engine.Output;

import java.util.List;

/** Pieces both OpenAI routes share: usage, finish reasons, the fields a request may not use. */
final class OpenAi {
    private OpenAi() {}

    static long now() {
        return System.currentTimeMillis() / 1000;
    }

    /** Prompt tokens count once per prompt (not per sample), as OpenAI bills them; cached tokens likewise. */
    static ObjectNode usage(List<Generation> gens) {
        int prompt = 0, completion = 0, cached = 0;
        for (Generation g : gens) {
            prompt += g.promptTokens;
            completion += g.completionTokens();
            cached += g.cachedTokens();
        }
        ObjectNode u = Json.object();
        u.put("prompt_tokens", prompt);
        u.put("completion_tokens", completion);
        u.put("total_tokens", prompt + completion);
        u.putObject("prompt_tokens_details").put("cached_tokens", cached);
        return u;
    }

    static String finishReason(Output.FinishReason f) {
        return f == null ? null : f.type();
    }

    /** SGLang's {@code matched_stop}: the stop token id or string that ended the sample, else null. */
    static JsonNode matchedStop(Output.FinishReason f) {
        if (f == null || f.matched() == null) return Json.MAPPER.nullNode();
        if (f.matched() instanceof Integer id) return Json.MAPPER.getNodeFactory().numberNode(id);
        return Json.MAPPER.getNodeFactory().textNode(f.matched().toString());
    }

    /** best_of is OpenAI's way to pick the best of several samples, which Kiln does not do: only best_of = n is served. */
    static void refuseUnsupported(Fields body) {
        Integer bestOf = body.integer("best_of");
        Integer n = body.integer("n");
        if (bestOf != null && bestOf != (n == null ? 1 : n)) throw ApiException.badRequest("best_of other than n is not supported", "best_of");
    }

    static boolean includeUsage(Fields body) {
        Fields opts = body.object("stream_options");
        return opts != null && Boolean.TRUE.equals(opts.bool("include_usage"));
    }
}
