package kiln.cli;

import kiln.bench.BackendKind;
import kiln.bench.BenchOptions;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;

/**
 * The flags of sglang.bench_serving that {@code kiln bench} and {@code kiln sweep} share, with its defaults
 * ({@code --max-concurrency} is each command's own: one value for bench, a list for sweep).
 */
final class BenchFlags {
    @Option(names = "--backend", defaultValue = "sglang", converter = BackendConverter.class,
            description = "sglang | sglang-native (POST /generate) | sglang-oai | vllm | openai (POST /v1/completions) | sglang-oai-chat | vllm-chat | openai-chat (POST /v1/chat/completions). Default: ${DEFAULT-VALUE}.")
    BackendKind backend;

    @Option(names = "--base-url", description = "Server base URL, instead of --host and --port.")
    String baseUrl;

    @Option(names = "--host", defaultValue = "0.0.0.0", description = "Default: ${DEFAULT-VALUE}.")
    String host;

    @Option(names = "--port", description = "Default: 30000 for the sglang backends and openai*, 8000 for vllm*.")
    Integer port;

    @Option(names = "--model", description = "Model name sent to the OpenAI APIs (default: the first of GET /v1/models); a local directory also gives the tokenizer.")
    String model;

    @Option(names = "--tokenizer", description = "Local HuggingFace model directory with tokenizer.json (default: --model, the server's /model_info, else the bundled DeepSeek tokenizer).")
    String tokenizer;

    @Option(names = "--dataset-name", defaultValue = "sharegpt", description = "sharegpt | random | random-ids | generated-shared-prefix. Default: ${DEFAULT-VALUE}.")
    String datasetName;

    @Option(names = "--dataset-path", defaultValue = "", description = "ShareGPT-format JSON file (sharegpt, random).")
    String datasetPath;

    @Option(names = "--num-prompts", defaultValue = "1000", description = "Number of requests. Default: ${DEFAULT-VALUE}.")
    int numPrompts;

    @Option(names = "--sharegpt-output-len", description = "Output length of every sharegpt request (default: the dataset's answer length).")
    Integer sharegptOutputLen;

    @Option(names = "--sharegpt-context-len", description = "Drop sharegpt requests whose prompt + output exceed this.")
    Integer sharegptContextLen;

    @Option(names = "--random-input-len", defaultValue = "1024", description = "Input tokens per random request. Default: ${DEFAULT-VALUE}.")
    int randomInputLen;

    @Option(names = "--random-output-len", defaultValue = "1024", description = "Output tokens per random request. Default: ${DEFAULT-VALUE}.")
    int randomOutputLen;

    @Option(names = "--random-range-ratio", defaultValue = "0.0", description = "Lengths uniform in [max(floor(L*r),1), L]. Default: ${DEFAULT-VALUE}.")
    double randomRangeRatio;

    @Option(names = "--request-rate", defaultValue = "inf", converter = RateConverter.class,
            description = "Requests per second (Poisson arrivals); inf sends all at once. Default: ${DEFAULT-VALUE}.")
    double requestRate;

    @Option(names = "--seed", defaultValue = "1", description = "Random seed. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--output-file", description = "JSONL file the run's line is appended to (default: SGLang's name, e.g. sglang_MMDD_1000_1024_1024.jsonl).")
    String outputFile;

    @Option(names = "--output-details", description = "Add per-request input_lens, output_lens, ttfts, itls, generated_texts, errors to the JSONL line.")
    boolean outputDetails;

    @Option(names = "--disable-stream", description = "Non-streaming requests (TTFT = latency).")
    boolean disableStream;

    @Option(names = "--disable-ignore-eos", description = "Let requests stop at EOS (ignore_eos is sent true by default).")
    boolean disableIgnoreEos;

    @Option(names = "--extra-request-body", description = "JSON object merged into every request body, e.g. '{\"top_p\": 0.9}'.")
    String extraRequestBody;

    @Option(names = "--warmup-requests", defaultValue = "1", description = "Warmup requests (output at most 32 tokens). Default: ${DEFAULT-VALUE}.")
    int warmupRequests;

    @Option(names = "--flush-cache", description = "Flush the server's prefix cache after warmup.")
    boolean flushCache;

    @Option(names = "--tokenize-prompt", description = "Send token ids instead of text (native backends, random datasets).")
    boolean tokenizePrompt;

    @Option(names = "--apply-chat-template", description = "Apply the tokenizer's chat template to sharegpt prompts.")
    boolean applyChatTemplate;

    @Option(names = "--gsp-num-groups", defaultValue = "64", description = "generated-shared-prefix: system prompt groups. Default: ${DEFAULT-VALUE}.")
    int gspNumGroups;

    @Option(names = "--gsp-prompts-per-group", defaultValue = "16", description = "generated-shared-prefix: questions per group. Default: ${DEFAULT-VALUE}.")
    int gspPromptsPerGroup;

    @Option(names = "--gsp-system-prompt-len", defaultValue = "2048", description = "generated-shared-prefix: system prompt tokens. Default: ${DEFAULT-VALUE}.")
    int gspSystemPromptLen;

    @Option(names = "--gsp-question-len", defaultValue = "128", description = "generated-shared-prefix: question tokens. Default: ${DEFAULT-VALUE}.")
    int gspQuestionLen;

    @Option(names = "--gsp-output-len", defaultValue = "256", description = "generated-shared-prefix: output tokens. Default: ${DEFAULT-VALUE}.")
    int gspOutputLen;

    @Option(names = "--gsp-range-ratio", defaultValue = "1.0", description = "generated-shared-prefix: length range ratio. Default: ${DEFAULT-VALUE}.")
    double gspRangeRatio;

    @Option(names = "--ready-check-timeout-sec", defaultValue = "60", description = "Wait this long for GET /v1/models to answer before starting; 0 skips. Default: ${DEFAULT-VALUE}.")
    int readyCheckTimeoutSec;

    @Option(names = "--disable-tqdm", description = "No progress bar.")
    boolean disableTqdm;

    @Option(names = "--tag", description = "Free text written as the JSONL line's \"tag\".")
    String tag;

    @Option(names = "--header", arity = "1..*", description = "HTTP headers Key=Value sent with every request.")
    List<String> headers = new ArrayList<>();

    @Option(names = "--idle-timeout-sec", defaultValue = "300", description = "Kiln: a request fails after this long without a byte from the server. Default: ${DEFAULT-VALUE}.")
    double idleTimeoutSec;

    BenchOptions toOptions(Integer maxConcurrency) {
        return new BenchOptions(backend, baseUrl, host, port, model, tokenizer, datasetName, datasetPath, numPrompts,
                sharegptOutputLen, sharegptContextLen, randomInputLen, randomOutputLen, randomRangeRatio, requestRate,
                maxConcurrency, seed, outputFile, outputDetails, disableStream, disableIgnoreEos, extraRequestBody,
                warmupRequests, flushCache, tokenizePrompt, applyChatTemplate, gspNumGroups, gspPromptsPerGroup,
                gspSystemPromptLen, gspQuestionLen, gspOutputLen, gspRangeRatio, readyCheckTimeoutSec, disableTqdm,
                tag, headers, idleTimeoutSec);
    }

    static final class BackendConverter implements ITypeConverter<BackendKind> {
        @Override
        public BackendKind convert(String value) {
            return BackendKind.parse(value);
        }
    }

    /** Python's float(): "inf", "Infinity" and plain numbers. */
    static final class RateConverter implements ITypeConverter<Double> {
        @Override
        public Double convert(String value) {
            String v = value.strip().toLowerCase();
            if (v.equals("inf") || v.equals("+inf") || v.equals("infinity")) return Double.POSITIVE_INFINITY;
            return Double.parseDouble(v);
        }
    }
}
