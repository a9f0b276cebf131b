package kiln.cli;

import kiln.Log;
import kiln.backend.Backend;
import kiln.backend.Backends;
import kiln.backend.cuda.CudaBackend;
import kiln.backend.cuda.CudaGraphRunner;
import kiln.config.ModelConfig;
import kiln.engine.Engine;
import kiln.engine.EngineConfig;
import kiln.engine.EosIds;
import kiln.io.DType;
import kiln.model.DefaultModel;
import kiln.model.Model;
import kiln.model.Models;
import kiln.server.KilnServer;
import kiln.server.ServerOptions;
import kiln.tokenizer.Tokenizer;
import kiln.tokenizer.TokenizerException;
import kiln.tokenizer.Tokenizers;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;

import sun.misc.Signal;

/**
 * {@code kiln serve}: SGLang's {@code launch_server} for Kiln. Flag names are SGLang's, so the commands in SGLang's
 * DeepSeek docs work with {@code kiln} in front. With no {@code --model-path} it serves the embedded default model.
 */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Serve a model over HTTP: SGLang's native API (/generate) and the OpenAI API (/v1/...).",
                "Without --model-path, serves the embedded tiny DeepSeek-R1-architecture model (dummy weights: not meaningful text)."})
public final class ServeCommand implements Callable<Integer> {
    // ---- model ----
    @Option(names = {"--model-path", "--model"}, description = "HuggingFace checkpoint directory (or a config.json with --load-format dummy). Default: the embedded kiln-default-r1-tiny.")
    String modelPath;
    @Option(names = "--tokenizer-path", description = "Directory with tokenizer.json and tokenizer_config.json (default: the model's).")
    String tokenizerPath;
    @Option(names = "--served-model-name", description = "Model name in the API (default: the model path).")
    String servedModelName;
    @Option(names = "--load-format", defaultValue = "auto", description = "auto (read the checkpoint) or dummy (random weights from config.json).")
    String loadFormat;
    @Option(names = "--json-model-override-args", description = "JSON merged into config.json, e.g. '{\"num_hidden_layers\": 4}'.")
    String modelOverrides;
    @Option(names = "--dtype", defaultValue = "auto", description = "auto, bfloat16, float16, half, float32, float (the CPU computes in float32 whatever the dtype).")
    String dtype;
    @Option(names = "--kv-cache-dtype", defaultValue = "auto", description = "auto (the backend's own: float32 on the CPU, the --dtype on the GPU) or bf16/bfloat16 where that is it; fp8_e4m3: DeepSeek's MLA latent cache as e4m3 bytes (a quarter of the CPU's float32 bytes per token; on the GPU written, and refused until its GPU checks pass). fp8_e5m2 is not built.")
    String kvCacheDtype;
    @Option(names = "--trust-remote-code", description = "Accepted for SGLang compatibility (Kiln runs no model code from checkpoints).")
    boolean trustRemoteCode;
    @Option(names = "--context-length", description = "Context length (default: the model's max_position_embeddings).")
    Integer contextLength;
    @Option(names = "--skip-tokenizer-init", description = "Run without a tokenizer: token ids in (input_ids), token ids out (output_ids).")
    boolean skipTokenizerInit;
    @Option(names = "--chat-template", description = "Jinja chat template file (default: the tokenizer's).")
    String chatTemplate;
    @Option(names = "--reasoning-parser", description = "deepseek-r1: split reasoning_content from content.")
    String reasoningParser;
    @Option(names = "--tool-call-parser", description = "deepseekv3 (DeepSeek-V3/R1) or deepseekv31 (DeepSeek-V3.1): parse DeepSeek tool calls into tool_calls.")
    String toolCallParser;
    @Option(names = "--constrained-json-disable-any-whitespace", description = "Structured JSON output without whitespace between tokens (compact JSON).")
    boolean constrainedJsonDisableAnyWhitespace;

    // ---- device and parallelism ----
    @Option(names = "--device", defaultValue = "auto", description = "auto (the GPU when one is usable), cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;
    @Mixin
    ParallelFlags parallel = new ParallelFlags();

    // ---- memory and scheduling ----
    @Option(names = "--mem-fraction-static", description = "Fraction of memory for weights and KV cache (CPU: of free memory for the KV pool).")
    Double memFractionStatic;
    @Option(names = "--max-total-tokens", description = "KV pool size in tokens (overrides --mem-fraction-static).")
    Integer maxTotalTokens;
    @Option(names = "--chunked-prefill-size", description = "Prefill at most this many tokens per step (-1: no chunking; default 8192).")
    Integer chunkedPrefillSize;
    @Option(names = "--max-prefill-tokens", description = "Token budget of one prefill batch (default 16384).")
    Integer maxPrefillTokens;
    @Option(names = "--max-running-requests", description = "Requests decoding at once (default 256).")
    Integer maxRunningRequests;
    @Option(names = "--max-queued-requests", description = "Waiting requests beyond which new ones get 503 (default 4096).")
    Integer maxQueuedRequests;
    @Option(names = "--schedule-policy", defaultValue = "fcfs", description = "fcfs or lpm (longest cached prefix first).")
    String schedulePolicy;
    @Option(names = "--schedule-conservativeness", description = "Scales the admission estimate of future tokens (default 1.0).")
    Double scheduleConservativeness;
    @Option(names = "--disable-radix-cache", description = "Do not reuse KV of shared prompt prefixes.")
    boolean disableRadixCache;
    @Option(names = "--enable-mixed-chunk", description = "Run decode tokens in the same batch as prefill chunks.")
    boolean enableMixedChunk;
    @Option(names = "--disable-overlap-schedule", description = "Apply each step's tokens before planning the next. By default, on a GPU, "
            + "the next step is launched first (its input tokens read on the device) and the last one's streamed while it runs; the CPU never overlaps.")
    boolean disableOverlapSchedule;
    @Option(names = "--enable-priority-scheduling", description = "Order the waiting queue by each request's priority (higher values first), arrival among equals; without it a request that names a priority gets 400.")
    boolean enablePriorityScheduling;
    @Option(names = "--schedule-low-priority-values-first", description = "With --enable-priority-scheduling: lower priority values first.")
    boolean scheduleLowPriorityValuesFirst;
    @Option(names = "--default-priority-value", description = "With --enable-priority-scheduling: the priority of a request that names none (default: after every request that names one).")
    Integer defaultPriorityValue;
    @Option(names = "--disable-priority-preemption", description = "With --enable-priority-scheduling: never retract a running request for a waiting one of higher priority.")
    boolean disablePriorityPreemption;
    @Option(names = "--priority-scheduling-preemption-threshold", description = "With --enable-priority-scheduling: how much higher a waiting request's priority must be to retract a running one (default 10).")
    Integer priorityPreemptionThreshold;
    @Option(names = "--abort-on-priority-when-disabled", description = "Accepted for SGLang compatibility: Kiln always refuses (400) a priority when priority scheduling is off.")
    boolean abortOnPriorityWhenDisabled;
    @Option(names = "--req-waiting-timeout", description = "Seconds a request may wait to start before it is ended with 503 (SGLang's SGLANG_REQ_WAITING_TIMEOUT; default 0: no limit).")
    Double reqWaitingTimeout;

    // ---- GPU-only (accepted everywhere) ----
    @Option(names = "--enable-torch-compile", description = "GPU: the same as CUDA graphs (on by default); no effect on the CPU.")
    boolean enableTorchCompile;
    @Option(names = "--torch-compile-max-bs", description = "GPU: largest CUDA-graph batch when --cuda-graph-max-bs is not given.")
    Integer torchCompileMaxBs;
    @Option(names = "--cuda-graph-max-bs", description = "GPU: largest decode batch replayed as a CUDA graph (default 160).")
    Integer cudaGraphMaxBs;
    @Option(names = "--disable-cuda-graph", description = "GPU: run decode steps eagerly.")
    boolean disableCudaGraph;

    // ---- HTTP ----
    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to listen on (default: ${DEFAULT-VALUE}).")
    String host;
    @Option(names = "--port", defaultValue = "30000", description = "Port (default: ${DEFAULT-VALUE}; 0 picks a free one).")
    int port;
    @Option(names = "--api-key", description = "Require 'Authorization: Bearer KEY' (health and metrics stay open).")
    String apiKey;
    @Option(names = "--enable-metrics", description = "Serve Prometheus metrics at /metrics.")
    boolean enableMetrics;
    @Option(names = "--log-requests", description = "Log every request's arrival and finish.")
    boolean logRequests;
    @Option(names = "--log-level", defaultValue = "info", description = "info, warning or error.")
    String logLevel;
    @Option(names = "--decode-log-interval", defaultValue = "40", description = "Decode steps between the scheduler's \"Decode batch.\" log lines "
            + "(a \"Prefill batch.\" line is logged for every prefill batch; default: ${DEFAULT-VALUE}).")
    int decodeLogInterval;
    @Option(names = "--stream-interval", defaultValue = "1", description = "Stream an event every this many tokens (default: ${DEFAULT-VALUE}).")
    int streamInterval;
    @Option(names = "--skip-server-warmup", description = "Be ready at once, without the warmup request.")
    boolean skipServerWarmup;
    @Option(names = "--allowed-origins", split = ",", description = "Browser origins allowed to call the server (CORS), e.g. https://app.example; * for any. Default: none (requests with an Origin get 403).")
    List<String> allowedOrigins;
    @Option(names = "--max-connections", description = "Open connections at most; one past it is closed as soon as it is accepted (default: what the file descriptor limit leaves room for).")
    Integer maxConnections;
    @Option(names = "--timeout-keep-alive", defaultValue = "30", description = "Close a connection with no request under way after this many seconds without a byte, one whose request takes longer than this plus 1 s per KiB to arrive, and one whose client takes no answer bytes for this long (default: ${DEFAULT-VALUE}).")
    int timeoutKeepAlive;
    @Option(names = "--drain-timeout", defaultValue = "60", description = "Seconds SIGTERM (or Ctrl-C) lets running requests finish before it aborts them and stops (default: ${DEFAULT-VALUE}).")
    int drainTimeout;

    /**
     * Serves until SIGTERM or SIGINT, then drains: the exit status is 0 when every running request finished, 1 when
     * the drain ran out of time and aborted some. The signals are handled here rather than by the JVM's shutdown,
     * whose exit status after a signal is always 128 + the signal's number (143), clean or not.
     */
    @Override
    public Integer call() throws Exception {
        KilnServer server = launch();
        AtomicReference<Boolean> clean = new AtomicReference<>();
        Runnable drain = () -> {
            synchronized (clean) {
                if (clean.get() == null) clean.set(server.drain(drainTimeout * 1000L));
            }
        };
        for (String name : List.of("TERM", "INT")) {
            Signal.handle(new Signal(name), sig -> Thread.ofPlatform().name("kiln-drain").start(drain));
        }
        // any other way the JVM goes down (System.exit, SIGHUP) still drains
        Runtime.getRuntime().addShutdownHook(new Thread(drain, "kiln-drain-hook"));
        server.awaitStop();
        synchronized (clean) {
            return Boolean.FALSE.equals(clean.get()) ? 1 : 0;
        }
    }

    /** Parses SGLang-style flags and starts a server, ready when this returns (tests and embedders use this). */
    public static KilnServer launch(String... args) {
        ServeCommand c = new ServeCommand();
        new CommandLine(c).parseArgs(args);
        return c.launch();
    }

    /** Checks the flags, loads the model and tokenizer, starts the engine and the HTTP server, warms up. */
    public KilnServer launch() {
        switch (logLevel) {
            case "info", "debug" -> Log.quiet(false);
            case "warning", "error" -> Log.quiet(true);
            default -> throw new IllegalArgumentException("--log-level must be info, warning or error, not " + logLevel);
        }
        check();
        Log.info("server_args=%s", serverArgs());
        boolean embedded = modelPath == null;
        ModelConfig config = embedded ? DefaultModel.config(modelOverrides) : ModelConfig.load(Path.of(modelPath), modelOverrides);
        Models.LoadFormat format = embedded || loadFormat.equals("dummy") ? Models.LoadFormat.DUMMY : Models.LoadFormat.AUTO;
        if (embedded) Log.info("No --model-path: serving the embedded %s (dummy weights; output is not meaningful text)", DefaultModel.NAME);
        if (contextLength != null && contextLength > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("--context-length " + contextLength + " exceeds the model's max_position_embeddings "
                    + config.maxPositionEmbeddings());
        }
        if (kvCacheDtype.equals("fp8_e4m3")) checkFp8KvCache(config, embedded ? DefaultModel.NAME : modelPath);
        Backend backend = createBackend(parallel.device(device), dtype, kvCacheDtype.equals("fp8_e4m3"));
        if (!backend.name().startsWith("cuda") && (enableTorchCompile || torchCompileMaxBs != null || cudaGraphMaxBs != null || disableCudaGraph)) {
            Log.info("--enable-torch-compile, --torch-compile-max-bs, --cuda-graph-max-bs and --disable-cuda-graph apply "
                    + "to the GPU backend; the %s backend ignores them", backend.name());
        }
        try {
            checkKvCacheDtype(backend.kvCacheDtype());
        } catch (IllegalArgumentException e) {
            backend.close();
            throw e;
        }
        Tokenizer tokenizer = skipTokenizerInit ? null : loadTokenizer(embedded);
        Log.info("Load weight begin. format=%s", format.name().toLowerCase());
        Model model;
        try {
            model = servedModel(Models.load(config, embedded ? null : Path.of(modelPath), format, backend, parallel.tp));
        } catch (RuntimeException e) {
            backend.close();
            throw e;
        }
        Engine engine;
        try {
            EngineConfig ec = engineConfig();
            engine = new Engine(model, ec, EosIds.resolve(config, embedded ? null : Path.of(modelPath)), tokenizer);
            Log.info("max_total_num_tokens=%d, chunked_prefill_size=%d, max_prefill_tokens=%d, max_running_requests=%d, context_len=%d",
                    engine.kvCapacity(), ec.chunkedPrefillSize(), ec.maxPrefillTokens(), ec.maxRunningRequests(), engine.contextLength());
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        String name = servedModelName != null ? servedModelName : embedded ? DefaultModel.NAME : modelPath;
        ServerOptions options = new ServerOptions(host, port, name, embedded ? DefaultModel.NAME : modelPath,
                tokenizer == null ? null : tokenizerPath != null ? tokenizerPath : embedded ? "bundled:deepseek-v3" : modelPath,
                apiKey, enableMetrics, logRequests, streamInterval, chatTemplate, reasoningParser, toolCallParser,
                !constrainedJsonDisableAnyWhitespace, allowedOrigins == null ? Set.of() : Set.copyOf(allowedOrigins), maxConnections == null ? 0 : maxConnections,
                timeoutKeepAlive, serverArgs());
        KilnServer server;
        try {
            server = KilnServer.start(engine, tokenizer, options);
        } catch (RuntimeException e) {
            engine.close();
            model.close();
            if (e instanceof kiln.chat.ChatTemplateException) throw new IllegalArgumentException("--chat-template: " + e.getMessage(), e);
            throw new IllegalArgumentException("cannot start the HTTP server on " + host + ":" + port + ": " + e.getMessage(), e);
        }
        try {
            if (skipServerWarmup) server.markReady();
            else server.warmup();
        } catch (RuntimeException e) {
            server.close();
            throw e;
        }
        return server;
    }

    /** The one place a backend is made from --device (the CUDA backend plugs in here). */
    static Backend createBackend(String device, String dtype, boolean fp8KvCache) {
        // SGLang's float16 has no CUDA path here: the GPU serves it in bf16 (same exponent range as the checkpoints)
        String d = dtype.equals("float16") || dtype.equals("half") ? "bfloat16" : dtype;
        if (!d.equals(dtype) && !device.equals("cpu")) Log.info("--dtype %s: the GPU backend computes in bfloat16 instead", dtype);
        return Backends.create(device, d, fp8KvCache);
    }

    /** SGLang's default --cuda-graph-max-bs for one large GPU. */
    static final int DEFAULT_CUDA_GRAPH_MAX_BS = 160;

    /**
     * On the GPU, decode steps replay as CUDA graphs up to --cuda-graph-max-bs (SGLang's torch.compile flags map to
     * the same graphs: --torch-compile-max-bs sets the largest size when --cuda-graph-max-bs is not given), unless
     * --disable-cuda-graph. The engine drives the model from its scheduler thread; the runner hands each forward
     * to the device's own thread, which owns the CUDA context.
     */
    Model servedModel(Model model) {
        if (!(model.backend() instanceof CudaBackend) || disableCudaGraph) return model;
        int maxBs = cudaGraphMaxBs != null ? cudaGraphMaxBs : torchCompileMaxBs != null ? torchCompileMaxBs : DEFAULT_CUDA_GRAPH_MAX_BS;
        if (maxRunningRequests != null) maxBs = Math.min(maxBs, Math.max(1, maxRunningRequests));
        Log.info("CUDA graphs for decode batches up to %d%s", maxBs, enableTorchCompile ? " (--enable-torch-compile: the same graphs)" : "");
        return new CudaGraphRunner(model, maxBs);
    }

    /**
     * The KV cache is stored in the backend's own type (float32 on the CPU, the activation dtype on the GPU), or in
     * FP8 e4m3 for MLA models (the backend was made with it). A --kv-cache-dtype that names another type
     * is refused rather than ignored.
     */
    void checkKvCacheDtype(DType stored) {
        if (kvCacheDtype.equals("auto")) return;
        if (kvCacheDtype.equals("fp8_e4m3")) {
            if (stored != DType.F8_E4M3) throw new IllegalStateException("--kv-cache-dtype fp8_e4m3: the backend stores " + dtypeName(stored));
            return;
        }
        if (stored != DType.BF16) {
            throw new IllegalArgumentException("--kv-cache-dtype " + kvCacheDtype + ": this backend keeps the KV cache in "
                    + dtypeName(stored) + (stored == DType.F32 ? " (bfloat16 needs --device cuda with --dtype bfloat16)" : "")
                    + "; pass --kv-cache-dtype auto");
        }
    }

    /** Refuses --kv-cache-dtype fp8_e4m3 for a model without MLA's latent cache, before anything is loaded. */
    static void checkFp8KvCache(ModelConfig config, String model) {
        if (!config.isMla()) {
            throw new IllegalArgumentException("--kv-cache-dtype fp8_e4m3: only DeepSeek's MLA latent cache is built in FP8, and " + model + " ("
                    + config.modelType() + ") uses grouped-query attention; pass --kv-cache-dtype auto");
        }
    }

    private static String dtypeName(DType type) {
        return switch (type) {
            case F32 -> "float32";
            case BF16 -> "bfloat16";
            default -> type.name().toLowerCase(java.util.Locale.ROOT);
        };
    }

    private void check() {
        parallel.check();
        if (!loadFormat.equals("auto") && !loadFormat.equals("dummy")) throw new IllegalArgumentException("--load-format must be auto or dummy, not " + loadFormat);
        oneOf("--dtype", dtype, List.of("auto", "bfloat16", "float16", "half", "float32", "float"));
        oneOf("--kv-cache-dtype", kvCacheDtype, List.of("auto", "fp8_e4m3", "fp8_e5m2", "bf16", "bfloat16"));
        if (kvCacheDtype.equals("fp8_e5m2")) {
            throw new IllegalArgumentException("--kv-cache-dtype fp8_e5m2 is not built: the FP8 cache stores e4m3 (--kv-cache-dtype fp8_e4m3, on the GPU)");
        }
        oneOf("--schedule-policy", schedulePolicy, List.of("fcfs", "lpm"));
        if (reasoningParser != null) oneOf("--reasoning-parser", reasoningParser, List.of("deepseek-r1"));
        if (toolCallParser != null) oneOf("--tool-call-parser", toolCallParser, kiln.chat.ToolCallParser.NAMES);
        if (port < 0 || port > 65535) throw new IllegalArgumentException("--port must be in [0, 65535], not " + port);
        if (streamInterval < 1) throw new IllegalArgumentException("--stream-interval must be at least 1, not " + streamInterval);
        positive("--max-total-tokens", maxTotalTokens);
        positive("--max-prefill-tokens", maxPrefillTokens);
        positive("--max-running-requests", maxRunningRequests);
        positive("--max-queued-requests", maxQueuedRequests);
        positive("--context-length", contextLength);
        positive("--cuda-graph-max-bs", cudaGraphMaxBs);
        positive("--max-connections", maxConnections);
        positive("--timeout-keep-alive", timeoutKeepAlive);
        if (drainTimeout < 0) throw new IllegalArgumentException("--drain-timeout must be a number of seconds >= 0, not " + drainTimeout);
        if (allowedOrigins != null) {
            for (String o : allowedOrigins) {
                if (!o.equals("*") && !o.matches("https?://[^/\\s]+")) {
                    throw new IllegalArgumentException("--allowed-origins: '" + o + "' is not an origin (scheme://host[:port], no path) or *");
                }
            }
        }
        positive("--torch-compile-max-bs", torchCompileMaxBs);
        if (chunkedPrefillSize != null && chunkedPrefillSize == 0) throw new IllegalArgumentException("--chunked-prefill-size must be positive or -1 (no chunking)");
        if (memFractionStatic != null && !(memFractionStatic > 0 && memFractionStatic < 1)) {
            throw new IllegalArgumentException("--mem-fraction-static must be in (0, 1), not " + memFractionStatic);
        }
        if (scheduleConservativeness != null && !(scheduleConservativeness > 0)) {
            throw new IllegalArgumentException("--schedule-conservativeness must be positive, not " + scheduleConservativeness);
        }
        if (modelPath != null && !Files.exists(Path.of(modelPath))) {
            throw new IllegalArgumentException("--model-path " + modelPath + ": no such file or directory");
        }
        if (chatTemplate != null && !Files.isRegularFile(Path.of(chatTemplate))) {
            throw new IllegalArgumentException("--chat-template " + chatTemplate + ": no such file");
        }
        if (!enablePriorityScheduling && (scheduleLowPriorityValuesFirst || defaultPriorityValue != null || disablePriorityPreemption
                || priorityPreemptionThreshold != null)) {
            throw new IllegalArgumentException("--schedule-low-priority-values-first, --default-priority-value, --disable-priority-preemption "
                    + "and --priority-scheduling-preemption-threshold need --enable-priority-scheduling");
        }
        if (priorityPreemptionThreshold != null && priorityPreemptionThreshold < 0) {
            throw new IllegalArgumentException("--priority-scheduling-preemption-threshold must be >= 0, not " + priorityPreemptionThreshold);
        }
        if (decodeLogInterval < 1) throw new IllegalArgumentException("--decode-log-interval must be at least 1, not " + decodeLogInterval);
        if (reqWaitingTimeout != null && !(reqWaitingTimeout >= 0 && reqWaitingTimeout < 1e9)) {
            throw new IllegalArgumentException("--req-waiting-timeout must be a number of seconds >= 0 (0: no limit), not " + reqWaitingTimeout);
        }
        if (skipTokenizerInit && (chatTemplate != null || reasoningParser != null || toolCallParser != null || tokenizerPath != null)) {
            throw new IllegalArgumentException("--skip-tokenizer-init runs without a tokenizer, so --tokenizer-path, --chat-template, "
                    + "--reasoning-parser and --tool-call-parser cannot be used with it");
        }
    }

    private Tokenizer loadTokenizer(boolean embedded) {
        try {
            if (tokenizerPath != null) return Tokenizers.load(Path.of(tokenizerPath));
            if (embedded) return Tokenizers.bundled();
            Path dir = Path.of(modelPath);
            if (!Files.isDirectory(dir)) dir = dir.toAbsolutePath().getParent();
            if (!Tokenizers.present(dir)) {
                throw new IllegalArgumentException(dir + " has no tokenizer.json: give --tokenizer-path, or run with "
                        + "--skip-tokenizer-init (token ids in and out)");
            }
            return Tokenizers.load(dir);
        } catch (TokenizerException e) {
            throw new IllegalArgumentException("tokenizer: " + e.getMessage(), e);
        }
    }

    private EngineConfig engineConfig() {
        EngineConfig c = EngineConfig.defaults()
                .withRadixCache(!disableRadixCache)
                .withMixedChunk(enableMixedChunk)
                .withOverlapSchedule(disableOverlapSchedule ? EngineConfig.OverlapSchedule.OFF : EngineConfig.OverlapSchedule.AUTO)
                .withSchedulePolicy(schedulePolicy.equals("lpm") ? EngineConfig.SchedulePolicy.LPM : EngineConfig.SchedulePolicy.FCFS)
                .withDecodeLogInterval(decodeLogInterval);
        if (maxTotalTokens != null) c = c.withMaxTotalTokens(maxTotalTokens);
        if (memFractionStatic != null) c = c.withMemFractionStatic(memFractionStatic);
        if (chunkedPrefillSize != null) c = c.withChunkedPrefillSize(chunkedPrefillSize);
        if (maxPrefillTokens != null) c = c.withMaxPrefillTokens(maxPrefillTokens);
        if (maxRunningRequests != null) c = c.withMaxRunningRequests(maxRunningRequests);
        if (maxQueuedRequests != null) c = c.withMaxQueuedRequests(maxQueuedRequests);
        if (scheduleConservativeness != null) c = c.withScheduleConservativeness(scheduleConservativeness);
        if (contextLength != null) c = c.withContextLength(contextLength);
        if (enablePriorityScheduling) {
            c = c.withPriorityScheduling(new EngineConfig.PriorityScheduling(true, scheduleLowPriorityValuesFirst, defaultPriorityValue,
                    !disablePriorityPreemption, priorityPreemptionThreshold == null ? 10 : priorityPreemptionThreshold));
        }
        if (reqWaitingTimeout != null) c = c.withWaitingTimeoutSeconds(reqWaitingTimeout);
        return c;
    }

    /** Every flag by SGLang's name (underscored), for the startup log and /server_info; the API key is masked. */
    private Map<String, Object> serverArgs() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model_path", modelPath == null ? DefaultModel.NAME : modelPath);
        m.put("tokenizer_path", tokenizerPath);
        m.put("served_model_name", servedModelName);
        m.put("load_format", modelPath == null ? "dummy" : loadFormat);
        m.put("json_model_override_args", modelOverrides);
        m.put("dtype", dtype);
        m.put("kv_cache_dtype", kvCacheDtype);
        m.put("trust_remote_code", trustRemoteCode);
        m.put("context_length", contextLength);
        m.put("skip_tokenizer_init", skipTokenizerInit);
        m.put("chat_template", chatTemplate);
        m.put("reasoning_parser", reasoningParser);
        m.put("tool_call_parser", toolCallParser);
        m.put("constrained_json_disable_any_whitespace", constrainedJsonDisableAnyWhitespace);
        m.put("device", device);
        m.put("tp_size", parallel.tp);
        m.put("ep_size", parallel.epSize);
        m.put("base_gpu_id", parallel.baseGpuId);
        m.put("mem_fraction_static", memFractionStatic);
        m.put("max_total_tokens", maxTotalTokens);
        m.put("chunked_prefill_size", chunkedPrefillSize);
        m.put("max_prefill_tokens", maxPrefillTokens);
        m.put("max_running_requests", maxRunningRequests);
        m.put("max_queued_requests", maxQueuedRequests);
        m.put("schedule_policy", schedulePolicy);
        m.put("schedule_conservativeness", scheduleConservativeness);
        m.put("disable_radix_cache", disableRadixCache);
        m.put("enable_mixed_chunk", enableMixedChunk);
        m.put("disable_overlap_schedule", disableOverlapSchedule);
        m.put("enable_priority_scheduling", enablePriorityScheduling);
        m.put("schedule_low_priority_values_first", scheduleLowPriorityValuesFirst);
        m.put("default_priority_value", defaultPriorityValue);
        m.put("disable_priority_preemption", disablePriorityPreemption);
        m.put("priority_scheduling_preemption_threshold", priorityPreemptionThreshold == null ? 10 : priorityPreemptionThreshold);
        m.put("abort_on_priority_when_disabled", abortOnPriorityWhenDisabled);
        m.put("req_waiting_timeout", reqWaitingTimeout == null ? 0.0 : reqWaitingTimeout);
        m.put("enable_torch_compile", enableTorchCompile);
        m.put("torch_compile_max_bs", torchCompileMaxBs);
        m.put("cuda_graph_max_bs", cudaGraphMaxBs);
        m.put("disable_cuda_graph", disableCudaGraph);
        m.put("host", host);
        m.put("port", port);
        m.put("api_key", apiKey == null ? null : "***");
        m.put("enable_metrics", enableMetrics);
        m.put("log_requests", logRequests);
        m.put("log_level", logLevel);
        m.put("decode_log_interval", decodeLogInterval);
        m.put("stream_interval", streamInterval);
        m.put("skip_server_warmup", skipServerWarmup);
        m.put("allowed_origins", allowedOrigins == null ? List.of() : allowedOrigins);
        m.put("max_connections", maxConnections);
        m.put("timeout_keep_alive", timeoutKeepAlive);
        m.put("drain_timeout", drainTimeout);
        return m;
    }

    private static void oneOf(String flag, String value, List<String> allowed) {
        if (!allowed.contains(value)) throw new IllegalArgumentException(flag + " must be one of " + String.join(", ", allowed) + ", not " + value);
    }

    private static void positive(String flag, Integer value) {
        if (value != null && value < 1) throw new IllegalArgumentException(flag + " must be at least 1, not " + value);
    }
}
