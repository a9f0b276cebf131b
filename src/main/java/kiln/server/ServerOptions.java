package kiln.server;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The HTTP server's own settings (the engine's are in {@link kiln.engine.EngineConfig}). {@code serverArgs} is every
 * launch flag by its SGLang name, reported as-is by {@code /server_info}.
 *
 * @param apiKey           null: no authentication
 * @param streamInterval   stream an event every this many tokens (SGLang's --stream-interval)
 * @param chatTemplate     a Jinja file replacing the tokenizer's chat template, or null
 * @param reasoningParser  "deepseek-r1" or null; toolCallParser: "deepseekv3", "deepseekv31" or null
 * @param jsonAnyWhitespace structured JSON output may put whitespace between tokens (false:
 *                         --constrained-json-disable-any-whitespace, compact JSON)
 * @param allowedOrigins   browser origins allowed to call the server (CORS), or {@code *}; empty: none
 * @param maxConnections   open connections at most; 0: as many as the process's file descriptors leave room for
 * @param keepAliveSeconds a connection idle this long between requests is closed
 */
public record ServerOptions(String host, int port, String servedModelName, String modelPath, String tokenizerPath,
                            String apiKey, boolean enableMetrics, boolean logRequests, int streamInterval,
                            String chatTemplate, String reasoningParser, String toolCallParser, boolean jsonAnyWhitespace,
                            Set<String> allowedOrigins, int maxConnections, int keepAliveSeconds,
                            Map<String, Object> serverArgs) {
    public ServerOptions {
        if (streamInterval < 1) throw new IllegalArgumentException("--stream-interval must be at least 1, got " + streamInterval);
        if (maxConnections < 0) throw new IllegalArgumentException("--max-connections must be at least 1, got " + maxConnections);
        if (keepAliveSeconds < 1) throw new IllegalArgumentException("--timeout-keep-alive must be at least 1, got " + keepAliveSeconds);
        allowedOrigins = allowedOrigins == null ? Set.of() : Set.copyOf(allowedOrigins);
        serverArgs = serverArgs == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(serverArgs));
    }

    /** Loopback on an ephemeral port, metrics on, no key: what tests and embedders start from. */
    public static ServerOptions local(String modelName) {
        return new ServerOptions("127.0.0.1", 0, modelName, modelName, null, null, true, false, 1, null, null, null, true,
                Set.of(), 0, 30, Map.of());
    }
}
