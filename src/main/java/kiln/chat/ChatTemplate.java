package kiln.chat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.loader.ResourceLocator;
import com.hubspot.jinjava.objects.SafeString;
import com.hubspot.jinjava.objects.date.StrftimeFormatter;
import jinjava.javax.el.CompositeELResolver;

import java.io.IOException;
import java.nio.charset.Charset;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A model's Jinja chat template, rendered with jinjava as transformers' {@code apply_chat_template} renders it with
 * Jinja2 (docs/tokenizer.md lists the few known differences): {@code trim_blocks} and
 * {@code lstrip_blocks} on, {@code messages}, {@code tools}, {@code add_generation_prompt}, {@code bos_token} and
 * {@code eos_token} bound, and the helpers HF templates call ({@code raise_exception}, {@code tojson},
 * {@code strftime_now}, Python's str methods). Immutable and thread-safe; any template error, including a
 * {@code raise_exception}, comes out as a {@link ChatTemplateException} fit for an HTTP 400.
 */
public final class ChatTemplate {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Jinjava JINJAVA = createEngine();

    private final String source;
    /** The source with Jinja2's whitespace rules already applied (see {@link JinjaWhitespace}). */
    private final String prepared;
    private final String bosToken;
    private final String eosToken;

    private ChatTemplate(String source, String bosToken, String eosToken) {
        this.source = source;
        this.prepared = JinjaWhitespace.apply(source);
        this.bosToken = bosToken;
        this.eosToken = eosToken;
    }

    /** A template from its source; {@code bosToken}/{@code eosToken} (may be null) are bound as in transformers. */
    public static ChatTemplate of(String source, String bosToken, String eosToken) {
        return new ChatTemplate(source, bosToken, eosToken);
    }

    /** A template file (e.g. {@code --chat-template FILE}). */
    public static ChatTemplate load(Path file, String bosToken, String eosToken) {
        try {
            return of(Files.readString(file), bosToken, eosToken);
        } catch (IOException e) {
            throw new ChatTemplateException("cannot read chat template " + file + ": " + e.getMessage());
        }
    }

    public String source() {
        return source;
    }

    /**
     * Renders a conversation. {@code messages} and {@code tools} are lists of maps as parsed from an OpenAI request
     * (Jackson trees are accepted too); {@code tools} may be null.
     */
    public String render(List<?> messages, List<?> tools, boolean addGenerationPrompt) {
        Map<String, Object> vars = new HashMap<>();
        vars.put("messages", messages);
        if (tools != null) vars.put("tools", tools);
        vars.put("add_generation_prompt", addGenerationPrompt);
        return render(vars);
    }

    /**
     * Renders with any variables (transformers passes extra {@code chat_template_kwargs} the same way, e.g.
     * {@code enable_thinking}). {@code bos_token} and {@code eos_token} are added unless given.
     */
    public String render(Map<String, ?> variables) {
        Map<String, Object> vars = new HashMap<>();
        if (bosToken != null) vars.put("bos_token", bosToken);
        if (eosToken != null) vars.put("eos_token", eosToken);
        variables.forEach((k, v) -> vars.put(k, deepPlain(v)));
        RenderResult result;
        try {
            result = JINJAVA.renderForResult(prepared, vars);
        } catch (RuntimeException e) {
            Throwable raised = raised(e);
            throw new ChatTemplateException(raised != null ? raised.getMessage() : "chat template failed: " + e.getMessage());
        }
        for (TemplateError error : result.getErrors()) {
            Throwable raised = raised(error.getException());
            if (raised != null) throw new ChatTemplateException(raised.getMessage());
        }
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new ChatTemplateException("chat template error at line " + error.getLineno() + ": " + error.getMessage());
            }
        }
        return result.getOutput();
    }

    /** The exception a template's raise_exception threw, if it is somewhere in the cause chain. */
    private static Throwable raised(Throwable t) {
        for (int depth = 0; t != null && depth < 20; t = t.getCause(), depth++) {
            if (t instanceof TemplateRaised) return t;
        }
        return null;
    }

    /** Thrown by the template function {@code raise_exception(message)}. */
    static final class TemplateRaised extends RuntimeException {
        TemplateRaised(String message) {
            super(message);
        }
    }

    public static String raiseException(Object message) {
        throw new TemplateRaised(String.valueOf(message));
    }

    public static String strftimeNow(String format) {
        return StrftimeFormatter.format(ZonedDateTime.now(), format);
    }

    /** Jackson trees become plain maps, lists and scalars, which Jinjava navigates. */
    static Object plain(Object v) {
        if (v instanceof Optional<?> o) return o.orElse(null);
        if (v instanceof SafeString s) return s.toString();
        if (!(v instanceof JsonNode n)) return v;
        return JSON.convertValue(n, Object.class);
    }

    private static Object deepPlain(Object v) {
        Object p = plain(v);
        if (p instanceof Map<?, ?> m) {
            Map<String, Object> out = new LinkedHashMap<>();
            m.forEach((k, x) -> out.put(String.valueOf(k), deepPlain(x)));
            return out;
        }
        if (p instanceof List<?> l) {
            List<Object> out = new ArrayList<>(l.size());
            for (Object x : l) out.add(deepPlain(x));
            return out;
        }
        return p;
    }

    private static Jinjava createEngine() {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonStrings());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        JinjavaConfig config = JinjavaConfig.newBuilder()
                // trim_blocks and lstrip_blocks are applied to the source by JinjaWhitespace (Jinjava's lstrip differs)
                .withTrimBlocks(false)
                .withLstripBlocks(false)
                .withKeepTrailingNewline(true)
                .withElResolver(resolver)
                // Message text is data: "{{" inside a user message must stay text, never be evaluated.
                .withNestedInterpretationEnabled(false)
                .withFailOnUnknownTokens(false)
                .withMaxOutputSize(64L << 20) // a runaway loop fails instead of filling the heap
                .withInterperterFactory(new PythonOutput())
                // As in Jinja2: "for k in dict" iterates keys, and dict literal keys are expressions.
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withIterateOverMapKeys(true)
                        .withEvaluateMapKeys(true)
                        .build())
                .build();
        Jinjava jinjava = new Jinjava(config);
        jinjava.setResourceLocator(new ResourceLocator() {
            @Override
            public String getString(String fullName, Charset encoding, JinjavaInterpreter interpreter) throws IOException {
                throw new IOException("chat templates cannot include or import other templates (" + fullName + ")");
            }
        });
        try {
            jinjava.registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class.getMethod("raiseException", Object.class)));
            jinjava.registerFunction(new ELFunctionDefinition("", "strftime_now", ChatTemplate.class.getMethod("strftimeNow", String.class)));
        } catch (NoSuchMethodException e) {
            throw new AssertionError(e);
        }
        jinjava.registerFilter(new ToJson());
        return jinjava;
    }

    /** HF's tojson: {@code json.dumps(x, ensure_ascii=False, indent=indent, sort_keys=sort_keys)}. */
    private static final class ToJson implements Filter {
        @Override
        public String getName() {
            return "tojson";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, args, Map.of());
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object indent = kwargs.containsKey("indent") ? kwargs.get("indent") : args.length > 0 ? args[0] : null;
            boolean sortKeys = Boolean.TRUE.equals(kwargs.get("sort_keys"));
            int spaces = indent == null ? -1 : Integer.parseInt(indent.toString());
            return PythonJson.dumps(var, spaces, sortKeys);
        }
    }
}
