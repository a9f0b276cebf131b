package kiln.server;

import kiln.engine.Output;

/**
 * How the HTTP layer answers a sample the engine ended with "abort". The engine says why only in words, so the
 * mapping lives here, in one place: a client's own abort is a normal end; a shutdown, a sample the KV pool ran out
 * under, or one that waited past --req-waiting-timeout is 503; an internal error is 500; anything else (a prompt
 * that can never fit the KV pool) is the request's fault, 400.
 */
final class Aborts {
    private Aborts() {}

    static final String BY_CLIENT = "aborted by the client";

    static boolean isFailure(Output.FinishReason f) {
        return f.type().equals("abort") && f.message() != null && !f.message().equals(BY_CLIENT);
    }

    static ApiException toError(Output.FinishReason f) {
        String m = f.message() == null ? "the request was aborted" : f.message();
        if (m.startsWith("internal error")) return ApiException.internal(m);
        if (m.contains("shut down")) return ApiException.unavailable(m, 5);
        if (m.startsWith("out of KV memory")) return ApiException.unavailable(m, 1);
        if (m.startsWith(kiln.engine.Engine.WAITING_TIMEOUT)) return ApiException.unavailable(m, 1);
        return ApiException.badRequest(m, null);
    }
}
