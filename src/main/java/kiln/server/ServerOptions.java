package kiln.server;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The HTTP server's own settings (the engine's are in {@link kiln.engine.EngineConfig}). {@code serverArgs} is every
 * launch flag by its SGLang name, reported as-is by {@code /server_info}.
 *
 * @param apiKey           null: no authentication
 * @param streamInterval   stream an event every this many tokens (SGLang's --stream-interval)
 * @param chatTemplate     a Jinja file replacing the tokenizer's chat template, or null
 * @param reasoningParser  "deepseek-r1" or null; toolCallParser: "deepseekv3" or null
 */
public record ServerOptions(String host, int port, String servedModelName, String modelPath, String tokenizerPath,
                            String apiKey, boolean enableMetrics, boolean logRequests, int streamInterval,
                            String chatTemplate, String reasoningParser, String toolCallParser,
                            Map<String, Object> serverArgs) {
    public ServerOptions {
        if (streamInterval < 1) throw new IllegalArgumentException("--stream-interval must be at least 1, got " + streamInterval);
        serverArgs = serverArgs == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(serverArgs));
    }

    /** Loopback on an ephemeral port, metrics on, no key: what tests and embedders start from. */
    public static ServerOptions local(String modelName) {
        return new ServerOptions("127.0.0.1", 0, modelName, modelName, null, null, true, false, 1, null, null, null, Map.of());
    }
}
