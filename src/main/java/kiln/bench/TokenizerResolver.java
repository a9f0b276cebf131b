package kiln.bench;

import com.fasterxml.jackson.databind.JsonNode;
import kiln.tokenizer.Tokenizer;
import kiln.tokenizer.Tokenizers;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Which tokenizer counts and builds the prompts: {@code --tokenizer} (a local HF directory), else {@code --model}
 * when it is one, else the directory the server's {@code /model_info} names (tokenizer_path or model_path) when it
 * is local and holds a tokenizer.json, else the DeepSeek tokenizer bundled with Kiln.
 */
public final class TokenizerResolver {
    private TokenizerResolver() {}

    public static Tokenizer resolve(BenchOptions o, String modelId, ServerApi server, PrintStream log) {
        if (o.tokenizer() != null) {
            Path dir = Path.of(o.tokenizer());
            if (!Files.isDirectory(dir))
                throw new BenchException("--tokenizer " + o.tokenizer() + ": not a local directory (Kiln reads tokenizer.json from a HuggingFace model folder)");
            return load(dir, "--tokenizer", log);
        }
        if (modelId != null && Files.isDirectory(Path.of(modelId))) return load(Path.of(modelId), "--model", log);
        JsonNode info = server.getJson("/model_info");
        if (info != null) {
            for (String key : new String[]{"tokenizer_path", "model_path"}) {
                // a server of a checkpoint without a tokenizer (--skip-tokenizer-init) names a folder with none
                String p = info.path(key).asText("");
                if (!p.isEmpty() && Files.isDirectory(Path.of(p)) && Tokenizers.present(Path.of(p)))
                    return load(Path.of(p), "the server's /model_info " + key, log);
            }
        }
        log.println("Using the DeepSeek-V3/R1 tokenizer bundled with Kiln (give --tokenizer DIR for another model).");
        try {
            return Tokenizers.bundled();
        } catch (RuntimeException e) {
            throw new BenchException("cannot load the bundled tokenizer: " + e.getMessage(), e);
        }
    }

    private static Tokenizer load(Path dir, String from, PrintStream log) {
        log.println("Tokenizer from " + from + ": " + dir);
        try {
            return Tokenizers.load(dir);
        } catch (RuntimeException e) {
            throw new BenchException("cannot load the tokenizer in " + dir + " (" + from + "): " + e.getMessage(), e);
        }
    }
}
