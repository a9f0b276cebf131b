package kiln.server;

import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Labels;
import kiln.engine.EngineStats;

import java.io.IOException;
import java.io.OutputStream;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * The Prometheus metrics of {@code GET /metrics}: engine state read from {@link EngineStats} at scrape time, and
 * latency histograms the HTTP layer observes as outputs stream out. Every series carries {@code model_name}.
 */
public final class ServerMetrics {
    public static final String CONTENT_TYPE = PrometheusTextFormatWriter.CONTENT_TYPE;

    private static final double[] TTFT_BOUNDS = {0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 120, 300};
    private static final double[] ITL_BOUNDS = {0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075,
            0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5};
    private static final double[] E2E_BOUNDS = {0.1, 0.25, 0.5, 1, 2, 4, 6, 8, 10, 20, 40, 60, 120, 300, 600, 1200, 2400};

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
    private final Supplier<EngineStats> stats;
    private final Labels model;
    private final Histogram timeToFirstToken, interTokenLatency, e2eLatency;

    public ServerMetrics(Supplier<EngineStats> stats, String modelName) {
        this.stats = stats;
        this.model = Labels.of("model_name", modelName);
        gauge("kiln_num_running_reqs", "Requests running (prefilling or decoding).", EngineStats::runningRequests);
        gauge("kiln_num_queue_reqs", "Requests waiting to be scheduled.", EngineStats::queuedRequests);
        gauge("kiln_kv_used_tokens", "KV slots held by running requests.", EngineStats::kvUsedTokens);
        gauge("kiln_kv_cached_tokens", "KV slots held by the prefix cache.", EngineStats::kvCachedTokens);
        gauge("kiln_kv_total_tokens", "KV slots in the pool.", EngineStats::kvTotalTokens);
        gauge("kiln_cache_hit_rate", "Prompt tokens served from the prefix cache / all prompt tokens.", EngineStats::cacheHitRate);
        counter("kiln_prompt_tokens_total", "Prompt tokens admitted.", EngineStats::promptTokensTotal);
        counter("kiln_generation_tokens_total", "Tokens generated.", EngineStats::generationTokensTotal);
        counter("kiln_cached_prompt_tokens_total", "Prompt tokens found in the prefix cache.", EngineStats::cachedPromptTokensTotal);
        counter("kiln_retracted_requests_total", "Requests retracted when decode ran out of KV slots.", EngineStats::retractedTotal);
        counter("kiln_prefill_steps_total", "Forward steps with prompt tokens.", EngineStats::prefillSteps);
        counter("kiln_prefill_step_seconds_total", "Time of the steps with prompt tokens, each from its launch (or the previous step's result) to its result.",
                s -> s.prefillStepNanos() / 1e9);
        counter("kiln_prefill_step_tokens_total", "Prompt tokens fed by those steps.", EngineStats::prefillStepTokens);
        counter("kiln_decode_steps_total", "Forward steps that only decoded.", EngineStats::decodeSteps);
        counter("kiln_decode_step_seconds_total", "Time of those steps, measured as for prefill steps.", s -> s.decodeStepNanos() / 1e9);
        counter("kiln_overlapped_steps_total", "Steps launched before the previous step's tokens were applied (overlap scheduler).", EngineStats::overlappedSteps);
        register(CounterWithCallback.builder().name("kiln_requests_total").help("Finished samples by finish reason.")
                .labelNames("finish_reason")
                .callback(cb -> stats.get().finishedByReason().forEach((reason, n) -> cb.call(n, reason))));
        timeToFirstToken = histogram("kiln_time_to_first_token_seconds", "Time from request arrival to its first token.", TTFT_BOUNDS);
        interTokenLatency = histogram("kiln_inter_token_latency_seconds", "Time between consecutive output tokens.", ITL_BOUNDS);
        e2eLatency = histogram("kiln_e2e_request_latency_seconds", "Time from request arrival to its last token.", E2E_BOUNDS);
    }

    public void timeToFirstToken(double seconds) {
        timeToFirstToken.observe(seconds);
    }

    /** One observation per token: {@code tokens} arrived together after {@code seconds}. */
    public void interTokenLatency(double seconds, int tokens) {
        for (int i = 0; i < tokens; i++) interTokenLatency.observe(seconds / tokens);
    }

    public void e2eLatency(double seconds) {
        e2eLatency.observe(seconds);
    }

    public void write(OutputStream out) throws IOException {
        writer.write(out, registry.scrape());
    }

    private void gauge(String name, String help, ToDoubleFunction<EngineStats> value) {
        register(GaugeWithCallback.builder().name(name).help(help).callback(cb -> cb.call(value.applyAsDouble(stats.get()))));
    }

    private void counter(String name, String help, ToDoubleFunction<EngineStats> value) {
        register(CounterWithCallback.builder().name(name).help(help).callback(cb -> cb.call(value.applyAsDouble(stats.get()))));
    }

    private Histogram histogram(String name, String help, double[] bounds) {
        Histogram.Builder b = Histogram.builder().name(name).help(help).classicOnly().classicUpperBounds(bounds).constLabels(model);
        b.withoutExemplars();
        return b.register(registry);
    }

    private void register(io.prometheus.metrics.core.metrics.MetricWithFixedMetadata.Builder<?, ?> builder) {
        builder.constLabels(model).register(registry);
    }
}
