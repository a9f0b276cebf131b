package kiln.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Where tokenizers come from: a HuggingFace model directory, or the DeepSeek tokenizer bundled with Kiln. */
public final class Tokenizers {
    private Tokenizers() {}

    /** Classpath folder of the bundled DeepSeek-V3/R1 tokenizer. */
    static final String BUNDLED = "/kiln/deepseek-tokenizer/";

    /** True when {@code dir} holds a tokenizer.json (the model ships its tokenizer). */
    public static boolean present(Path dir) {
        return Files.isRegularFile(dir.resolve("tokenizer.json"));
    }

    /**
     * The tokenizer of {@code dir}: tokenizer.json, plus tokenizer_config.json (BOS/EOS, chat template) when present;
     * a chat_template.jinja file there takes precedence over the config's template, as in transformers.
     */
    public static Tokenizer load(Path dir) {
        Path json = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(json)) {
            throw new TokenizerException(dir + " has no tokenizer.json (the model directory ships no tokenizer)");
        }
        Path configFile = dir.resolve("tokenizer_config.json");
        JsonNode config = Files.isRegularFile(configFile) ? TokenizerFiles.readJson(open(configFile), configFile.toString()) : null;
        Path jinja = dir.resolve("chat_template.jinja");
        String template = Files.isRegularFile(jinja) ? read(jinja) : null;
        return TokenizerFiles.build(TokenizerFiles.readJson(open(json), json.toString()), json.toString(), config, configFile.toString(), template);
    }

    /** DeepSeek-V3/R1's tokenizer with R1's chat template, shipped inside Kiln; loaded once, then shared. */
    public static Tokenizer bundled() {
        return Bundled.TOKENIZER;
    }

    private static final class Bundled {
        static final Tokenizer TOKENIZER = TokenizerFiles.build(
                TokenizerFiles.readJson(resource("tokenizer.json"), BUNDLED + TOKENIZER_GZ), BUNDLED + TOKENIZER_GZ,
                TokenizerFiles.readJson(resource("tokenizer_config.json"), BUNDLED + "tokenizer_config.json"), BUNDLED + "tokenizer_config.json",
                readResource("chat_template.deepseek-r1.jinja"));
    }

    /**
     * The bundled tokenizer.json is stored gzipped (1.9 MB instead of 7.8: the jar, the repository and a GPU
     * machine's payload all carry it); {@link #resource} hands it out uncompressed by its usual name.
     */
    static final String TOKENIZER_GZ = "tokenizer.json.gz";

    /** A bundled file by its HuggingFace name (tokenizer.json, tokenizer_config.json, ...), uncompressed. */
    static InputStream resource(String name) {
        boolean gz = name.equals("tokenizer.json");
        String stored = gz ? TOKENIZER_GZ : name;
        InputStream in = Tokenizers.class.getResourceAsStream(BUNDLED + stored);
        if (in == null) throw new TokenizerException("classpath resource " + BUNDLED + stored + " is missing from this Kiln build");
        if (!gz) return in;
        try {
            return new java.util.zip.GZIPInputStream(in, 1 << 16);
        } catch (IOException e) {
            throw new TokenizerException("cannot read classpath resource " + BUNDLED + stored + ": " + e.getMessage(), e);
        }
    }

    /** Writes the bundled tokenizer's files (tokenizer.json uncompressed) into {@code dir}: a model directory's layout. */
    public static void writeBundled(Path dir) {
        for (String f : new String[] {"tokenizer.json", "tokenizer_config.json"}) {
            try (InputStream in = resource(f)) {
                Files.copy(in, dir.resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            } catch (IOException e) {
                throw new TokenizerException("cannot write " + dir.resolve(f) + ": " + e.getMessage(), e);
            }
        }
    }

    static String readResource(String name) {
        try (InputStream in = resource(name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new TokenizerException("cannot read classpath resource " + BUNDLED + name + ": " + e.getMessage(), e);
        }
    }

    private static InputStream open(Path file) {
        try {
            return Files.newInputStream(file);
        } catch (IOException e) {
            throw new TokenizerException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new TokenizerException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }
}
