package kiln.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import kiln.cli.ServeCommand;
import kiln.server.KilnServer;
import kiln.tokenizer.Tokenizer;
import kiln.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Which tokenizer a run uses: --tokenizer, then --model when it is a local directory, then the folder a real
 * server's /model_info names, then the bundled one. The three local tokenizers are HF tokenizer.json variants
 * (testdata/tokenizer-variants) told apart by their added tokens.
 */
@Timeout(60)
class TokenizerResolverTest {
    private static final Path QWEN2_TINY = Path.of("testdata", "fixtures", "qwen2-tiny");
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;
    private final ByteArrayOutputStream log = new ByteArrayOutputStream();

    /** A tokenizer directory holding one of the variants of testdata/tokenizer-variants, loaded. */
    static Tokenizer variant(Path dir, String name) throws Exception {
        write(dir, name);
        return Tokenizers.load(dir);
    }

    static Path write(Path dir, String name) throws Exception {
        Path base = Path.of("testdata", "tokenizer-variants");
        for (var c : JSON.readTree(base.resolve("variants.json").toFile()).get("cases")) {
            if (!c.get("name").asText().equals(name)) continue;
            ObjectNode json = c.get("tokenizer").deepCopy();
            json.set("model", JSON.readTree(base.resolve("model.json").toFile()));
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("tokenizer.json"), JSON.writeValueAsString(json));
            return dir;
        }
        throw new IllegalArgumentException("no variant " + name);
    }

    private static BenchOptions options(String tokenizer) {
        BenchOptions d = BenchOptions.defaults();
        return new BenchOptions(d.backend(), null, d.host(), null, null, tokenizer, d.datasetName(), d.datasetPath(),
                d.numPrompts(), null, null, d.randomInputLen(), d.randomOutputLen(), d.randomRangeRatio(), d.requestRate(),
                null, d.seed(), null, false, false, false, null, 1, false, false, false, d.gspNumGroups(),
                d.gspPromptsPerGroup(), d.gspSystemPromptLen(), d.gspQuestionLen(), d.gspOutputLen(), d.gspRangeRatio(),
                0, true, null, List.of(), 300);
    }

    private Tokenizer resolve(String tokenizer, String model, ServerApi server) {
        return TokenizerResolver.resolve(options(tokenizer), model, server, new PrintStream(log, true, StandardCharsets.UTF_8));
    }

    private static boolean has(Tokenizer t, String addedToken) {
        return t.idOf(addedToken).isPresent();
    }

    @Test
    void tokenizerFlagThenModelDirectoryThenServerPathThenBundled() throws Exception {
        Path a = write(dir.resolve("a"), "qwen2-style"), b = write(dir.resolve("b"), "llama3-style"), c = write(dir.resolve("c"), "gpt2-style");
        // a real server of a tokenizer-less checkpoint, given --tokenizer-path c: its /model_info names c
        try (KilnServer server = ServeCommand.launch("--model-path", QWEN2_TINY.toString(), "--tokenizer-path", c.toString(),
                "--port", "0", "--skip-server-warmup", "--max-total-tokens", "256", "--log-level", "warning")) {
            ServerApi api = new ServerApi(server.url(), Map.of());
            assertTrue(has(resolve(a.toString(), b.toString(), api), "<|im_start|>"), "--tokenizer first");
            assertTrue(has(resolve(null, b.toString(), api), "<|begin_of_text|>"), "then --model as a directory");
            Tokenizer fromServer = resolve(null, "served-name", api);
            assertTrue(has(fromServer, "<|endoftext|>") && !has(fromServer, "<|im_start|>"), "then /model_info");
            String text = log.toString(StandardCharsets.UTF_8);
            assertTrue(text.contains("Tokenizer from --tokenizer: " + a), text);
            assertTrue(text.contains("Tokenizer from --model: " + b), text);
            assertTrue(text.contains("Tokenizer from the server's /model_info tokenizer_path: " + c), text);
        }
        // its /model_info names only the checkpoint, which has no tokenizer.json: the bundled one is used
        try (KilnServer server = ServeCommand.launch("--model-path", QWEN2_TINY.toString(), "--skip-tokenizer-init",
                "--port", "0", "--skip-server-warmup", "--max-total-tokens", "256", "--log-level", "warning")) {
            assertSame(Tokenizers.bundled(), resolve(null, null, new ServerApi(server.url(), Map.of())));
            assertTrue(log.toString(StandardCharsets.UTF_8).contains("Using the DeepSeek-V3/R1 tokenizer bundled with Kiln"));
        }
        // no server answering at all: bundled as well
        assertSame(Tokenizers.bundled(), resolve(null, "not-a-directory", new ServerApi("http://127.0.0.1:" + BenchmarkTest.freePort(), Map.of())));
    }

    @Test
    void badTokenizerDirectoriesAreClearErrors() throws Exception {
        ServerApi none = new ServerApi("http://127.0.0.1:" + BenchmarkTest.freePort(), Map.of());
        Path missing = dir.resolve("missing");
        BenchException e = assertThrows(BenchException.class, () -> resolve(missing.toString(), null, none));
        assertEquals("--tokenizer " + missing + ": not a local directory (Kiln reads tokenizer.json from a HuggingFace model folder)", e.getMessage());

        Path empty = Files.createDirectories(dir.resolve("empty"));
        e = assertThrows(BenchException.class, () -> resolve(empty.toString(), null, none));
        assertTrue(e.getMessage().startsWith("cannot load the tokenizer in " + empty + " (--tokenizer): "), e.getMessage());
        assertTrue(e.getMessage().contains("has no tokenizer.json"), e.getMessage());

        Path broken = Files.createDirectories(dir.resolve("broken"));
        Files.writeString(broken.resolve("tokenizer.json"), "{\"model\": ");
        e = assertThrows(BenchException.class, () -> resolve(null, broken.toString(), none));
        assertTrue(e.getMessage().startsWith("cannot load the tokenizer in " + broken + " (--model): "), e.getMessage());
        assertTrue(e.getMessage().contains(broken.resolve("tokenizer.json").toString()), e.getMessage());
    }
}
