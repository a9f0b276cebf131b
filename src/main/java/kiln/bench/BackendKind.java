package kiln.bench;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The {@code --backend} values of sglang.bench_serving (plus vLLM's {@code openai} names): which route a request
 * goes to, how its stream is read, and the port used when neither {@code --port} nor {@code --base-url} is given.
 */
public enum BackendKind {
    SGLANG("sglang", Api.NATIVE, 30000),
    SGLANG_NATIVE("sglang-native", Api.NATIVE, 30000),
    SGLANG_OAI("sglang-oai", Api.COMPLETIONS, 30000),
    SGLANG_OAI_CHAT("sglang-oai-chat", Api.CHAT, 30000),
    VLLM("vllm", Api.COMPLETIONS, 8000),
    // SGLang's port table has no entry for vllm-chat (it falls back to 30000); vLLM's own default is meant.
    VLLM_CHAT("vllm-chat", Api.CHAT, 8000),
    OPENAI("openai", Api.COMPLETIONS, 30000),
    OPENAI_CHAT("openai-chat", Api.CHAT, 30000);

    /** The three HTTP APIs the backends speak. */
    public enum Api {
        NATIVE("/generate"), COMPLETIONS("/v1/completions"), CHAT("/v1/chat/completions");

        public final String path;

        Api(String path) {
            this.path = path;
        }
    }

    public final String cliName;
    public final Api api;
    public final int defaultPort;

    BackendKind(String cliName, Api api, int defaultPort) {
        this.cliName = cliName;
        this.api = api;
        this.defaultPort = defaultPort;
    }

    public boolean isSglang() {
        return cliName.startsWith("sglang");
    }

    public static BackendKind parse(String name) {
        for (BackendKind k : values()) if (k.cliName.equals(name)) return k;
        throw new IllegalArgumentException("--backend: invalid choice '" + name + "' (choose from " + names() + ")");
    }

    public static String names() {
        return Arrays.stream(values()).map(k -> "'" + k.cliName + "'").collect(Collectors.joining(", "));
    }

    @Override
    public String toString() {
        return cliName;
    }
}
