package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import kiln.engine.SamplingParams;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/** Request JSON to {@link SamplingParams}: SGLang's {@code sampling_params} object and OpenAI's top-level fields. */
final class SamplingJson {
    private SamplingJson() {}

    /**
     * The keys of SGLang's {@code sampling_params} that Kiln honours. {@code stream_interval} is read by the
     * /generate route; {@code spaces_between_special_tokens} changes nothing for the byte-level BPE tokenizers Kiln
     * loads (as in SGLang, whose fast tokenizers ignore it too), so either value is what Kiln does.
     */
    static final Set<String> SGLANG_KEYS = Set.of("max_new_tokens", "min_new_tokens", "temperature", "top_p", "top_k",
            "min_p", "frequency_penalty", "presence_penalty", "repetition_penalty", "stop", "stop_token_ids",
            "ignore_eos", "n", "sampling_seed", "seed", "skip_special_tokens", "spaces_between_special_tokens",
            "stream_interval", "logit_bias", "json_schema", "regex", "ebnf");
    /**
     * SGLang keys Kiln accepts only at the value that asks for nothing it lacks: {@code no_stop_trim} false (stop
     * strings are always trimmed), {@code custom_params} empty. Any other value is a 400.
     */
    static final Set<String> SGLANG_ONLY_DEFAULT = Set.of("no_stop_trim", "custom_params");
    /** SGLang keys Kiln does not implement (XGrammar's structural tags): a clear 400 beats silently ignoring them. */
    static final Set<String> SGLANG_UNSUPPORTED = Set.of("structural_tag");

    /** json_schema / regex / ebnf are read by {@link StructuredOutput#sglang}, which needs the tokenizer and the prompt. */
    static SamplingParams.Builder fromSglang(Fields sp) {
        SamplingParams.Builder b = SamplingParams.builder();
        if (sp == null) return b;
        var names = sp.node().fieldNames();
        while (names.hasNext()) {
            String key = names.next();
            if (SGLANG_UNSUPPORTED.contains(key) && sp.has(key)) {
                throw ApiException.badRequest(sp.path(key) + " (XGrammar's structural tags) is not supported by Kiln; use json_schema, "
                        + "regex or ebnf", sp.path(key));
            }
            if (SGLANG_ONLY_DEFAULT.contains(key)) {
                JsonNode v = sp.raw(key);
                boolean asksNothing = v == null || (v.isBoolean() && !v.asBoolean()) || (v.isObject() && v.isEmpty());
                if (!asksNothing) {
                    throw ApiException.badRequest(sp.path(key) + " " + Fields.describe(v) + " is not supported by Kiln"
                            + (key.equals("no_stop_trim") ? " (stop strings are always trimmed from the text)" : ""), sp.path(key));
                }
            }
            if (!SGLANG_KEYS.contains(key) && !SGLANG_ONLY_DEFAULT.contains(key) && !SGLANG_UNSUPPORTED.contains(key)) {
                Set<String> known = new TreeSet<>(SGLANG_KEYS);
                known.addAll(SGLANG_ONLY_DEFAULT);
                throw ApiException.badRequest("unknown sampling parameter " + sp.path(key) + "; known: " + String.join(", ", known), sp.path(key));
            }
        }
        Integer max = sp.integer("max_new_tokens");
        if (max != null) b.maxNewTokens(max);
        Integer min = sp.integer("min_new_tokens");
        if (min != null) b.minNewTokens(min);
        common(sp, b);
        sp.bool("spaces_between_special_tokens");
        Integer interval = sp.integer("stream_interval");
        if (interval != null && interval < 1) throw ApiException.badRequest(sp.path("stream_interval") + " must be at least 1, got " + interval, sp.path("stream_interval"));
        Long seed = sp.has("sampling_seed") ? sp.longValue("sampling_seed") : sp.longValue("seed");
        if (seed != null) b.seed(seed);
        return b;
    }

    /**
     * OpenAI fields (plus SGLang's extensions to them: top_k, min_p, repetition_penalty, ignore_eos, stop_token_ids,
     * min_tokens). {@code maxTokens} is the caller's default when the request names none.
     */
    static SamplingParams.Builder fromOpenAi(Fields body, int defaultMaxTokens) {
        SamplingParams.Builder b = SamplingParams.builder();
        Integer max = body.integer("max_completion_tokens");
        String maxName = "max_completion_tokens";
        if (max == null) {
            max = body.integer("max_tokens");
            maxName = "max_tokens";
        }
        if (max != null && max < 0) throw ApiException.badRequest(maxName + " must be >= 0, got " + max, maxName);
        b.maxNewTokens(max != null ? max : defaultMaxTokens);
        Integer min = body.integer("min_tokens");
        if (min != null) {
            if (min < 0 || min > (max != null ? max : defaultMaxTokens)) {
                throw ApiException.badRequest("min_tokens must be in [0, " + maxName + "], got " + min, "min_tokens");
            }
            b.minNewTokens(min);
        }
        common(body, b);
        Long seed = body.longValue("seed");
        if (seed != null) b.seed(seed);
        return b;
    }

    private static void common(Fields f, SamplingParams.Builder b) {
        Double v;
        if ((v = f.number("temperature")) != null) b.temperature(v.floatValue());
        if ((v = f.number("top_p")) != null) b.topP(v.floatValue());
        if ((v = f.number("min_p")) != null) b.minP(v.floatValue());
        if ((v = f.number("frequency_penalty")) != null) b.frequencyPenalty(v.floatValue());
        if ((v = f.number("presence_penalty")) != null) b.presencePenalty(v.floatValue());
        if ((v = f.number("repetition_penalty")) != null) b.repetitionPenalty(v.floatValue());
        Integer k = f.integer("top_k");
        if (k != null) b.topK(k);
        Integer n = f.integer("n");
        if (n != null) b.n(n);
        Boolean ignoreEos = f.bool("ignore_eos");
        if (ignoreEos != null) b.ignoreEos(ignoreEos);
        Boolean skipSpecial = f.bool("skip_special_tokens");
        if (skipSpecial != null) b.skipSpecialTokens(skipSpecial);
        List<String> stop = f.strings("stop");
        if (stop != null) {
            if (stop.size() > 16) throw ApiException.badRequest("stop may hold at most 16 strings, got " + stop.size(), f.path("stop"));
            b.stop(stop);
        }
        List<Integer> stopIds = f.integers("stop_token_ids");
        if (stopIds != null) b.stopTokenIds(stopIds);
        Map<Integer, Float> bias = logitBias(f);
        if (bias != null) b.logitBias(bias);
    }

    /**
     * OpenAI's (and SGLang's) {@code logit_bias}: token ids as strings to values in [-100, 100], added to the logits
     * before sampling. The range is checked with the other parameters, the ids against the vocabulary by the engine.
     */
    private static Map<Integer, Float> logitBias(Fields f) {
        Fields bias = f.object("logit_bias");
        if (bias == null) return null;
        Map<Integer, Float> out = new LinkedHashMap<>();
        for (var e : bias.node().properties()) {
            int id;
            try {
                id = Integer.parseInt(e.getKey().strip());
            } catch (NumberFormatException x) {
                throw ApiException.badRequest(f.path("logit_bias") + " keys must be token ids, got '" + e.getKey() + "'", f.path("logit_bias"));
            }
            Double v = bias.number(e.getKey());
            if (v == null) throw ApiException.badRequest(bias.path(e.getKey()) + " must be a number, got null", f.path("logit_bias"));
            out.put(id, v.floatValue());
        }
        return out;
    }

    /** Validates the finished parameters, naming the field as the request spelled it. */
    static SamplingParams build(SamplingParams.Builder b, String prefix) {
        SamplingParams p = b.build();
        String problem = p.validate();
        if (problem != null) {
            String field = problem.substring(0, Math.max(0, problem.indexOf(' ')));
            throw ApiException.badRequest(prefix + problem, prefix + field);
        }
        return p;
    }
}
