package kiln.server;

import kiln.Log;
import kiln.engine.Engine;
import kiln.engine.EngineException;
import kiln.engine.Request;
import kiln.engine.RequestHandle;
import kiln.engine.SamplingParams;
import kiln.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;
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
     * One prompt to generate from. {@code maxTokensField} names the request's max-tokens field (by its path) when the
     * request set it; a default is shortened to what the context and the KV pool leave, an explicit value that does
     * not fit is refused with the numbers, as SGLang does. {@code priority} is the request's, or null.
     */
    record Submission(String id, int[] prompt, SamplingParams params, String maxTokensField, Integer priority) {
        Submission(String id, int[] prompt, SamplingParams params, String maxTokensField) {
            this(id, prompt, params, maxTokensField, null);
        }
    }

    /**
     * The request fields a refusal of the request as a whole names: where its prompts came from, and its n (the
     * two whose product is the number of sequences it brings).
     */
    record Fanout(String promptsField, String nField) {}

    Generation submit(Submission s, Fanout fanout, long arrivalNanos, boolean observe) {
        return submit(List.of(s), fanout, arrivalNanos, observe).getFirst();
    }

    /** Submits every prompt of one request, all or none: ids and queue places are taken together. */
    List<Generation> submit(List<Submission> subs, Fanout fanout, long arrivalNanos, boolean observe) {
        if (state == State.DRAINING) throw ApiException.unavailable("the server is shutting down", 5);
        List<Request> requests = new ArrayList<>();
        for (Submission s : subs) requests.add(new Request(s.id(), s.prompt(), fitted(s), s.priority()));
        List<RequestHandle> handles;
        try {
            handles = engine.submit(requests);
        } catch (EngineException e) {
            if (e.overloaded()) throw ApiException.unavailable(e.getMessage() + "; retry later", 1);
            // the engine names SGLang's fields; the route's may differ
            String field = switch (e.field()) {
                case "max_new_tokens" -> subs.getFirst().maxTokensField();
                case "input_ids" -> fanout == null ? null : fanout.promptsField();
                case "n" -> fanout == null ? null : fanout.nField();
                case null -> null;
                default -> e.field();
            };
            throw ApiException.badRequest(e.getMessage(), field);
        }
        List<Generation> gens = new ArrayList<>();
        for (int i = 0; i < subs.size(); i++) {
            Request r = requests.get(i);
            if (options.logRequests()) Log.info("Receive: rid=%s, prompt_tokens=%d, %s", r.id(), r.promptIds().length, r.params());
            gens.add(new Generation(this, handles.get(i), r.promptIds().length, r.params(), arrivalNanos, observe && metrics != null));
        }
        return gens;
    }

    /** The request's parameters after the checks against the context length and the KV pool (see {@link Submission}). */
    private SamplingParams fitted(Submission s) {
        int[] prompt = s.prompt();
        SamplingParams params = s.params();
        if (prompt.length == 0) throw ApiException.badRequest("the prompt is empty", null);
        if (tokenizer == null && !params.stop().isEmpty()) {
            throw ApiException.badRequest("stop strings need the tokenizer, but the server runs with --skip-tokenizer-init; "
                    + "use stop_token_ids", "stop");
        }
        int context = engine.contextLength();
        int pool = engine.kvCapacity();
        if (prompt.length >= context) {
            throw ApiException.badRequest("the prompt has " + prompt.length + " tokens, but this model's context length is "
                    + context + " tokens (and at least one must be left to generate)", null);
        }
        if (prompt.length >= pool) {
            throw ApiException.badRequest("the prompt has " + prompt.length + " tokens, but the KV pool holds " + pool
                    + " tokens (and at least one must be left to generate); raise --max-total-tokens", null);
        }
        long total = (long) prompt.length + params.maxNewTokens();
        String field = s.maxTokensField();
        if (field == null) {
            int room = Math.min(context, pool) - prompt.length;
            return params.maxNewTokens() <= room ? params : params.toBuilder().maxNewTokens(room).build();
        }
        if (total > context) {
            throw ApiException.badRequest("requested " + total + " tokens (" + prompt.length + " in the prompt + "
                    + params.maxNewTokens() + " from " + field + "), but this model's context length is " + context + " tokens", field);
        }
        if (total > pool) {
            throw ApiException.badRequest("requested " + total + " tokens (" + prompt.length + " in the prompt + "
                    + params.maxNewTokens() + " from " + field + "), but the KV pool holds " + pool + " tokens, so the "
                    + "request could never finish; lower " + field + " or raise --max-total-tokens", field);
        }
        return params;
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

    /** Ends every open generation; its unfinished samples end with "abort" and {@code message}. */
    void abortAll(String message) {
        for (Generation g : open) g.cancel(message);
    }
}
