package kiln.bench;

import java.util.List;

/**
 * Everything {@code kiln bench} is told, named as sglang.bench_serving's flags. Optional values are null when the
 * flag was not given ({@code port}, {@code maxConcurrency}, ...). {@link #defaults()} gives SGLang's defaults;
 * {@code idleTimeoutSec} is Kiln's own (a request fails after that long without a byte from the server).
 */
public record BenchOptions(
        BackendKind backend, String baseUrl, String host, Integer port, String model, String tokenizer,
        String datasetName, String datasetPath, int numPrompts, Integer sharegptOutputLen, Integer sharegptContextLen,
        int randomInputLen, int randomOutputLen, double randomRangeRatio, double requestRate, Integer maxConcurrency,
        long seed, String outputFile, boolean outputDetails, boolean disableStream, boolean disableIgnoreEos,
        String extraRequestBody, int warmupRequests, boolean flushCache, boolean tokenizePrompt,
        boolean applyChatTemplate, int gspNumGroups, int gspPromptsPerGroup, int gspSystemPromptLen,
        int gspQuestionLen, int gspOutputLen, double gspRangeRatio, int readyCheckTimeoutSec, boolean disableTqdm,
        String tag, List<String> headers, double idleTimeoutSec) {

    public static final List<String> DATASETS = List.of("sharegpt", "random", "random-ids", "generated-shared-prefix");

    public BenchOptions {
        headers = headers == null ? List.of() : List.copyOf(headers);
    }

    public static BenchOptions defaults() {
        return new BenchOptions(BackendKind.SGLANG, null, "0.0.0.0", null, null, null, "sharegpt", "", 1000, null,
                null, 1024, 1024, 0.0, Double.POSITIVE_INFINITY, null, 1, null, false, false, false, null, 1, false,
                false, false, 64, 16, 2048, 128, 256, 1.0, 60, false, null, List.of(), 300);
    }

    /** Where requests go: {@code --base-url}, else {@code http://host:port} with the backend's default port. */
    public String resolvedBaseUrl() {
        if (baseUrl != null && !baseUrl.isBlank()) return baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
        String h = host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host;
        return "http://" + h + ":" + (port != null ? port : backend.defaultPort);
    }

    /** SGLang's default output file name when {@code --output-file} is not given. */
    public String resolvedOutputFile(java.time.LocalDate today) {
        if (outputFile != null) return outputFile;
        String now = String.format("%02d%02d", today.getMonthValue(), today.getDayOfMonth());
        return datasetName.startsWith("random")
                ? backend + "_" + now + "_" + numPrompts + "_" + randomInputLen + "_" + randomOutputLen + ".jsonl"
                : backend + "_" + now + "_" + numPrompts + "_" + datasetName + ".jsonl";
    }

    public BenchOptions withMaxConcurrency(Integer c) {
        return new BenchOptions(backend, baseUrl, host, port, model, tokenizer, datasetName, datasetPath, numPrompts,
                sharegptOutputLen, sharegptContextLen, randomInputLen, randomOutputLen, randomRangeRatio, requestRate,
                c, seed, outputFile, outputDetails, disableStream, disableIgnoreEos, extraRequestBody, warmupRequests,
                flushCache, tokenizePrompt, applyChatTemplate, gspNumGroups, gspPromptsPerGroup, gspSystemPromptLen,
                gspQuestionLen, gspOutputLen, gspRangeRatio, readyCheckTimeoutSec, disableTqdm, tag, headers,
                idleTimeoutSec);
    }

    public BenchOptions withRun(int prompts, String runTag, String file) {
        return new BenchOptions(backend, baseUrl, host, port, model, tokenizer, datasetName, datasetPath, prompts,
                sharegptOutputLen, sharegptContextLen, randomInputLen, randomOutputLen, randomRangeRatio, requestRate,
                maxConcurrency, seed, file, outputDetails, disableStream, disableIgnoreEos, extraRequestBody,
                warmupRequests, flushCache, tokenizePrompt, applyChatTemplate, gspNumGroups, gspPromptsPerGroup,
                gspSystemPromptLen, gspQuestionLen, gspOutputLen, gspRangeRatio, readyCheckTimeoutSec, disableTqdm,
                runTag, headers, idleTimeoutSec);
    }

    public BenchOptions withServer(String newBaseUrl, String newModel) {
        return new BenchOptions(backend, newBaseUrl, host, port, newModel, tokenizer, datasetName, datasetPath,
                numPrompts, sharegptOutputLen, sharegptContextLen, randomInputLen, randomOutputLen, randomRangeRatio,
                requestRate, maxConcurrency, seed, outputFile, outputDetails, disableStream, disableIgnoreEos,
                extraRequestBody, warmupRequests, flushCache, tokenizePrompt, applyChatTemplate, gspNumGroups,
                gspPromptsPerGroup, gspSystemPromptLen, gspQuestionLen, gspOutputLen, gspRangeRatio,
                readyCheckTimeoutSec, disableTqdm, tag, headers, idleTimeoutSec);
    }

    /** Checks that flags fit together; each message names the flag. */
    public void validate() {
        if (!DATASETS.contains(datasetName))
            throw new IllegalArgumentException("--dataset-name: invalid choice '" + datasetName + "' (choose from 'sharegpt', 'random', 'random-ids', 'generated-shared-prefix')");
        if (numPrompts < 1) throw new IllegalArgumentException("--num-prompts must be at least 1, not " + numPrompts);
        if (randomInputLen < 0 || randomOutputLen < 0) throw new IllegalArgumentException("--random-input-len and --random-output-len must not be negative");
        if (!(randomRangeRatio >= 0 && randomRangeRatio <= 1)) throw new IllegalArgumentException("--random-range-ratio must be in [0, 1], not " + randomRangeRatio);
        if (!(gspRangeRatio >= 0 && gspRangeRatio <= 1)) throw new IllegalArgumentException("--gsp-range-ratio must be in [0, 1], not " + gspRangeRatio);
        if (!(requestRate > 0)) throw new IllegalArgumentException("--request-rate must be positive (or inf), not " + requestRate);
        if (maxConcurrency != null && maxConcurrency < 1) throw new IllegalArgumentException("--max-concurrency must be at least 1, not " + maxConcurrency);
        if (warmupRequests < 0) throw new IllegalArgumentException("--warmup-requests must not be negative");
        if (sharegptOutputLen != null && sharegptOutputLen < 4) throw new IllegalArgumentException("--sharegpt-output-len: output_len too small (at least 4)");
        if (tokenizePrompt && backend.api != BackendKind.Api.NATIVE)
            throw new IllegalArgumentException("--tokenize-prompt only works with --backend sglang or sglang-native (token ids go to /generate)");
        if (tokenizePrompt && (datasetName.equals("sharegpt") || datasetName.equals("generated-shared-prefix")))
            throw new IllegalArgumentException("--tokenize-prompt only works with --dataset-name random or random-ids");
        if (readyCheckTimeoutSec < 0) throw new IllegalArgumentException("--ready-check-timeout-sec must not be negative");
        if (!(idleTimeoutSec > 0)) throw new IllegalArgumentException("--idle-timeout-sec must be positive");
        for (String h : headers)
            if (h.indexOf('=') <= 0) throw new IllegalArgumentException("--header expects Key=Value, not '" + h + "'");
    }
}
