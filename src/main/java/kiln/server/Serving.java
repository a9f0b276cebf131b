package kiln.server;

import kiln.Log;
import kiln.engine.Engine;
import kiln.engine.EngineException;
import kiln.engine.Request;
import kiln.engine.RequestHandle;
import kiln.engine.SamplingParams;
import kiln.tokenizer.Tokenizer;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What every route shares: the engine, the tokenizer (null with --skip-tokenizer-init), the options, the metrics
 * (null unless --enable-metrics), and the server's lifecycle state. The one place requests enter the engine.
 */
final class Serving {
    enum State {STARTING, READY, DRAINING}

    final Engine engine;
    final Tokenizer tokenizer;
    final ServerOptions options;
    final ServerMetrics metrics;
    final String modelName;
    final long startedAtSeconds = System.currentTimeMillis() / 1000;
    private final Set<Generation> open = ConcurrentHashMap.newKeySet();
    private volatile State state = State.STARTING;

    Serving(Engine engine, Tokenizer tokenizer, ServerOptions options) {
        this.engine = engine;
        this.tokenizer = tokenizer;
        this.options = options;
        this.modelName = options.servedModelName();
        this.metrics = options.enableMetrics() ? new ServerMetrics(engine::stats, modelName) : null;
    }

    State state() {
        return state;
    }

    void state(State s) {
        state = s;
    }

    /** 400 unless the request names this server's model (or none). */
    void checkModel(String model) {
        if (model != null && !model.equals(modelName)) {
            throw new ApiException(400, "invalid_request_error", "the model '" + model + "' does not exist; this server serves '"
                    + modelName + "'", "model", "model_not_found", null);
        }
    }

    Tokenizer requireTokenizer(String what) {
        if (tokenizer == null) {
            throw ApiException.badRequest(what + " needs the tokenizer, but the server runs with --skip-tokenizer-init; "
                    + "send token ids instead", null);
        }
        return tokenizer;
    }

    /**
     * Submits one prompt. {@code maxTokensField} names the request's max-tokens field when it set one explicitly, so a
     * prompt plus completion beyond the context is refused with the numbers, as SGLang does.
     */
    Generation submit(String id, int[] prompt, SamplingParams params, String maxTokensField, long arrivalNanos, boolean observe) {
        if (state == State.DRAINING) throw ApiException.unavailable("the server is shutting down", 5);
        if (prompt.length == 0) throw ApiException.badRequest("the prompt is empty", null);
        if (tokenizer == null && !params.stop().isEmpty()) {
            throw ApiException.badRequest("stop strings need the tokenizer, but the server runs with --skip-tokenizer-init; "
                    + "use stop_token_ids", "stop");
        }
        int context = engine.contextLength();
        if (prompt.length >= context) {
            throw ApiException.badRequest("the prompt has " + prompt.length + " tokens, but this model's context length is "
                    + context + " tokens (and at least one must be left to generate)", null);
        }
        if (maxTokensField != null && (long) prompt.length + params.maxNewTokens() > context) {
            throw ApiException.badRequest("requested " + (prompt.length + params.maxNewTokens()) + " tokens ("
                    + prompt.length + " in the prompt + " + params.maxNewTokens() + " from " + maxTokensField
                    + "), but this model's context length is " + context + " tokens", maxTokensField);
        }
        RequestHandle handle;
        try {
            handle = engine.submit(new Request(id, prompt, params));
        } catch (EngineException e) {
            if (e.overloaded()) throw ApiException.unavailable(e.getMessage() + "; retry later", 1);
            throw ApiException.badRequest(e.getMessage(), null);
        }
        if (options.logRequests()) {
            Log.info("Receive: rid=%s, prompt_tokens=%d, %s", id, prompt.length, params);
        }
        return new Generation(this, handle, prompt.length, params, arrivalNanos, observe && metrics != null);
    }

    /** Open generations are tracked so that a drain can wait for their responses, and abort_all can reach them. */
    void opened(Generation g) {
        open.add(g);
    }

    void closed(Generation g) {
        open.remove(g);
    }

    int inFlight() {
        return open.size();
    }

    void abortAll() {
        for (Generation g : open) g.cancel();
    }
}
