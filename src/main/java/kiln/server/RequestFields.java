package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;

/**
 * The top-level fields of the generation routes: every field a request sends is one the route reads (and then
 * validates, refusing values it cannot honour), one of SGLang's or OpenAI's that Kiln does not implement (400
 * naming it, unless its value asks for nothing: absent, null, false, empty), or unknown (400 listing the known
 * ones, as SGLang's {@code sampling_params} does in {@link SamplingJson}): a typo or an unsupported feature never
 * silently changes what a client gets. docs/server.md has the same table.
 */
final class RequestFields {
    private RequestFields() {}

    enum Route {
        CHAT("/v1/chat/completions"), COMPLETIONS("/v1/completions"), GENERATE("/generate");

        final String path;

        Route(String path) {
            this.path = path;
        }
    }

    /** Fields the OpenAI routes both read: sampling (SamplingJson.fromOpenAi) and what OpenAi.refuseUnsupported checks. */
    private static final Set<String> OPENAI_COMMON = Set.of("model", "max_tokens", "max_completion_tokens", "temperature", "top_p",
            "top_k", "min_p", "n", "stop", "seed", "presence_penalty", "frequency_penalty", "repetition_penalty", "min_tokens",
            "stop_token_ids", "ignore_eos", "skip_special_tokens", "stream", "stream_options", "priority", "user",
            "logit_bias", "response_format", "regex", "json_schema", "ebnf",
            // read only to refuse a value other than n's (OpenAi.refuseUnsupported)
            "best_of");

    private static final Map<Route, Set<String>> READ = Map.of(
            Route.CHAT, union(OPENAI_COMMON, Set.of("messages", "logprobs", "top_logprobs", "tools", "tool_choice",
                    "chat_template_kwargs", "separate_reasoning")),
            Route.COMPLETIONS, union(OPENAI_COMMON, Set.of("prompt", "echo", "logprobs")),
            Route.GENERATE, Set.of("text", "input_ids", "sampling_params", "rid", "stream", "return_logprob", "logprob_start_len",
                    "top_logprobs_num", "return_text_in_logprobs", "priority"));

    /** A field Kiln does not implement: why, and which values ask for nothing (those are accepted). */
    private record NotImplemented(String why, Predicate<JsonNode> asksNothing) {}

    private static final Predicate<JsonNode> EMPTY = v -> v.isNull() || (v.isBoolean() && !v.asBoolean()) || (v.isContainerNode() && v.isEmpty());
    private static final Predicate<JsonNode> NULL = JsonNode::isNull;

    private static final Map<String, NotImplemented> OPENAI_NOT_IMPLEMENTED = new LinkedHashMap<>();
    private static final Map<String, NotImplemented> CHAT_NOT_IMPLEMENTED = new LinkedHashMap<>();
    private static final Map<String, NotImplemented> GENERATE_NOT_IMPLEMENTED = new LinkedHashMap<>();

    static {
        // OpenAI's chat fields
        openAi("audio", NULL, "audio output is not supported (text only)");
        openAi("modalities", v -> v.isNull() || (v.isArray() && v.size() == 1 && v.get(0).asText().equals("text")), "only [\"text\"] output is supported");
        openAi("prediction", NULL, "predicted outputs are not supported");
        openAi("store", EMPTY, "Kiln stores no completions");
        openAi("metadata", EMPTY, "metadata goes with store, which Kiln does not do");
        openAi("service_tier", v -> v.isNull() || v.asText().equals("auto") || v.asText().equals("default"), "Kiln has one service tier");
        openAi("web_search_options", NULL, "web search is not supported");
        openAi("functions", NULL, "the legacy functions field is not supported; use tools");
        openAi("function_call", NULL, "the legacy function_call field is not supported; use tool_choice");
        openAi("verbosity", NULL, "verbosity levels are not supported");
        openAi("prompt_cache_key", NULL, "the prefix cache is automatic; there are no cache keys");
        openAi("safety_identifier", NULL, "not supported");
        openAi("reasoning", NULL, "reasoning settings are not supported: DeepSeek-R1 and its distills have no effort levels");
        openAi("reasoning_effort", NULL, "DeepSeek-R1 and its distills have no effort levels");
        openAi("suffix", NULL, "text after the insertion point (fill-in-the-middle) is not supported");
        // other servers' ways to constrain decoding (vLLM's guided decoding, XGrammar's structural tags)
        for (String f : new String[]{"guided_json", "guided_regex", "guided_choice", "guided_grammar", "guided_decoding_backend",
                "guided_whitespace_pattern", "structured_outputs", "structural_tag"}) {
            openAi(f, NULL, "constrain the output with response_format, json_schema, regex or ebnf");
        }
        // SGLang's extensions to them
        openAi("rid", NULL, "request ids are Kiln's own on the OpenAI routes; /generate takes rid");
        openAi("input_ids", NULL, "prompts as token ids go to /v1/completions or /generate");
        openAi("return_hidden_states", EMPTY, "hidden states are not returned");
        openAi("return_routed_experts", EMPTY, "routed experts are not returned");
        openAi("routed_experts_start_len", v -> v.isNull() || (v.isIntegralNumber() && v.asLong() == 0), "routed experts are not returned");
        openAi("return_cached_tokens_details", EMPTY, "usage has prompt_tokens_details.cached_tokens; no breakdown by cache tier");
        openAi("return_prompt_token_ids", EMPTY, "token ids are not returned on the OpenAI routes (use /generate)");
        openAi("return_token_ids", EMPTY, "token ids are not returned on the OpenAI routes (use /generate)");
        openAi("return_meta_info", EMPTY, "meta_info is not returned on the OpenAI routes (use /generate)");
        openAi("stop_regex", NULL, "stop regexes are not supported; use stop strings");
        openAi("no_stop_trim", EMPTY, "stop strings are always trimmed from the text");
        openAi("continue_final_message", EMPTY, "continuing the final assistant message is not supported");
        openAi("lora_path", NULL, "LoRA adapters are not supported");
        openAi("session_id", NULL, "sessions are not supported");
        openAi("session_params", NULL, "sessions are not supported");
        openAi("custom_logit_processor", NULL, "custom logit processors are not supported");
        openAi("custom_params", EMPTY, "custom logit processors are not supported");
        openAi("images_config", NULL, "images are not supported");
        openAi("max_dynamic_patch", NULL, "images are not supported");
        openAi("min_dynamic_patch", NULL, "images are not supported");
        openAi("use_audio_in_video", EMPTY, "video is not supported");
        openAi("task", NULL, "DeepSeek-V4 quick instruction tasks are not supported");
        openAi("extra_key", NULL, "request classification keys are not supported");
        openAi("cache_salt", NULL, "cache salts are not supported: the prefix cache is shared by every request");
        openAi("ngram_corpus_id", NULL, "speculative decoding is not supported");
        openAi("custom_labels", NULL, "custom metric labels are not supported");
        for (String f : new String[]{"bootstrap_host", "bootstrap_port", "bootstrap_room", "routed_dp_rank", "disagg_prefill_dp_rank",
                "data_parallel_rank"}) {
            openAi(f, NULL, "prefill/decode disaggregation and data parallelism are not supported");
        }
        CHAT_NOT_IMPLEMENTED.putAll(OPENAI_NOT_IMPLEMENTED);
        CHAT_NOT_IMPLEMENTED.put("parallel_tool_calls", new NotImplemented("every tool call the model writes is returned; "
                + "limiting it to one is not supported", v -> v.isNull() || (v.isBoolean() && v.asBoolean())));
        CHAT_NOT_IMPLEMENTED.put("stream_reasoning", new NotImplemented("reasoning_content always streams as it is generated",
                v -> v.isNull() || (v.isBoolean() && v.asBoolean())));
        // /generate's
        generate("input_embeds", NULL, "prompts as embeddings are not supported");
        generate("positional_embed_overrides", NULL, "embedding overrides are not supported");
        generate("image_data", NULL, "images are not supported");
        generate("video_data", NULL, "video is not supported");
        generate("audio_data", NULL, "audio is not supported");
        generate("modalities", NULL, "only text is supported");
        generate("token_ids_logprob", NULL, "logprobs of chosen token ids are not supported; use top_logprobs_num");
        generate("return_hidden_states", EMPTY, "hidden states are not returned");
        generate("return_routed_experts", EMPTY, "routed experts are not returned");
        generate("return_bytes", EMPTY, "token bytes are not returned");
        generate("return_entropy", EMPTY, "entropies are not returned");
        generate("lora_path", NULL, "LoRA adapters are not supported");
        generate("lora_id", NULL, "LoRA adapters are not supported");
        generate("session_params", NULL, "sessions are not supported");
        generate("custom_logit_processor", NULL, "custom logit processors are not supported");
        generate("stream_output", EMPTY, "streams are cumulative (SGLang's default); incremental output is not supported");
        generate("log_metrics", v -> v.isNull() || v.isBoolean() && v.asBoolean(), "every request is counted in the metrics");
        generate("no_logs", EMPTY, "--log-requests logs every request");
        generate("background", EMPTY, "background requests are not supported");
        generate("conversation_id", NULL, "conversations are not supported");
        generate("extra_key", NULL, "request classification keys are not supported");
        generate("cache_salt", NULL, "cache salts are not supported: the prefix cache is shared by every request");
        generate("custom_labels", NULL, "custom metric labels are not supported");
        for (String f : new String[]{"bootstrap_host", "bootstrap_port", "bootstrap_room", "routed_dp_rank", "disagg_prefill_dp_rank",
                "data_parallel_rank"}) {
            generate(f, NULL, "prefill/decode disaggregation and data parallelism are not supported");
        }
    }

    private static void openAi(String field, Predicate<JsonNode> asksNothing, String why) {
        OPENAI_NOT_IMPLEMENTED.put(field, new NotImplemented(why, asksNothing));
    }

    private static void generate(String field, Predicate<JsonNode> asksNothing, String why) {
        GENERATE_NOT_IMPLEMENTED.put(field, new NotImplemented(why, asksNothing));
    }

    /** 400 for the first field of {@code body} that {@code route} does not implement or does not know. */
    static void check(Fields body, Route route) {
        Set<String> read = READ.get(route);
        Map<String, NotImplemented> notImplemented = notImplementedOn(route);
        for (var e : body.node().properties()) {
            String field = e.getKey();
            if (read.contains(field)) continue;
            NotImplemented n = notImplemented.get(field);
            if (n != null) {
                if (n.asksNothing().test(e.getValue())) continue;
                throw ApiException.badRequest(field + " is not supported by Kiln: " + n.why(), field);
            }
            throw ApiException.badRequest("unknown field " + field + " for " + route.path + "; the fields Kiln reads here are: "
                    + String.join(", ", new TreeSet<>(read)), field);
        }
        if (route != Route.GENERATE) streamOptions(body);
    }

    /** OpenAI's stream_options: include_usage is read; continuous_usage_stats (usage in every chunk) is not built. */
    private static void streamOptions(Fields body) {
        Fields opts = body.object("stream_options");
        if (opts == null) return;
        for (var e : opts.node().properties()) {
            String key = e.getKey();
            if (key.equals("include_usage")) continue;
            if (key.equals("continuous_usage_stats") && EMPTY.test(e.getValue())) continue;
            if (key.equals("continuous_usage_stats")) {
                throw ApiException.badRequest(opts.path(key) + " is not supported by Kiln: usage comes in the last chunk "
                        + "(include_usage)", opts.path(key));
            }
            throw ApiException.badRequest("unknown field " + opts.path(key) + "; stream_options takes include_usage", opts.path(key));
        }
    }

    private static Map<String, NotImplemented> notImplementedOn(Route route) {
        return switch (route) {
            case CHAT -> CHAT_NOT_IMPLEMENTED;
            case COMPLETIONS -> OPENAI_NOT_IMPLEMENTED;
            case GENERATE -> GENERATE_NOT_IMPLEMENTED;
        };
    }

    /** The fields {@code route} reads, and the SGLang / OpenAI ones it refuses (for tests). */
    static Set<String> read(Route route) {
        return READ.get(route);
    }

    static Set<String> notImplemented(Route route) {
        return notImplementedOn(route).keySet();
    }

    private static Set<String> union(Set<String> a, Set<String> b) {
        Set<String> all = new java.util.HashSet<>(a);
        all.addAll(b);
        return Set.copyOf(all);
    }
}
