package kiln.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Loading from a model directory, the lookups other packages use, and clear errors for what Kiln does not implement. */
class TokenizerLoadTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A small valid byte-level tokenizer.json (the variants' model, GPT-2 style pre-tokenizer), changed by {@code edit}. */
    private static Path tokenizerDir(Path dir, Consumer<ObjectNode> edit) throws IOException {
        ObjectNode json = JSON.createObjectNode();
        json.putArray("added_tokens");
        json.set("pre_tokenizer", JSON.readTree("{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true}"));
        json.set("decoder", JSON.readTree("{\"type\": \"ByteLevel\"}"));
        json.set("model", Reference.json(VariantParityTest.DIR.resolve("model.json")));
        edit.accept(json);
        Files.writeString(dir.resolve("tokenizer.json"), JSON.writeValueAsString(json));
        return dir;
    }

    private static String loadError(Path dir) {
        return assertThrows(TokenizerException.class, () -> Tokenizers.load(dir)).getMessage();
    }

    @Test
    void unsupportedComponentsFailAtLoadNamingThem(@TempDir Path tmp) throws IOException {
        String m = loadError(tokenizerDir(Files.createDirectory(tmp.resolve("a")), j -> ((ObjectNode) j.get("model")).put("type", "WordPiece")));
        assertTrue(m.contains("model.type") && m.contains("WordPiece"), m);
        m = loadError(tokenizerDir(Files.createDirectory(tmp.resolve("b")), j -> j.set("pre_tokenizer", JSON.createObjectNode().put("type", "Metaspace"))));
        assertTrue(m.contains("pre_tokenizer") && m.contains("Metaspace"), m);
        m = loadError(tokenizerDir(Files.createDirectory(tmp.resolve("c")), j -> j.set("normalizer", JSON.createObjectNode().put("type", "Replace"))));
        assertTrue(m.contains("normalizer") && m.contains("Replace"), m);
        m = loadError(tokenizerDir(Files.createDirectory(tmp.resolve("d")), j -> j.set("decoder", JSON.createObjectNode().put("type", "WordPiece"))));
        assertTrue(m.contains("decoder") && m.contains("WordPiece"), m);
        m = loadError(tokenizerDir(Files.createDirectory(tmp.resolve("e")), j -> ((ObjectNode) j.get("model")).put("byte_fallback", true)));
        assertTrue(m.contains("model.byte_fallback"), m);
        m = loadError(tokenizerDir(Files.createDirectory(tmp.resolve("f")), j -> j.set("post_processor", JSON.createObjectNode().put("type", "BertProcessing"))));
        assertTrue(m.contains("post_processor") && m.contains("BertProcessing"), m);
        m = loadError(tokenizerDir(Files.createDirectory(tmp.resolve("g")),
                j -> j.set("pre_tokenizer", JSON.createObjectNode().put("type", "Split").put("behavior", "Isolated").set("pattern", JSON.createObjectNode().put("Regex", "(")))));
        assertTrue(m.contains("pre_tokenizer.pattern") && m.contains("regex"), m);
    }

    @Test
    void missingAndBrokenFilesAreNamed(@TempDir Path tmp) throws IOException {
        String m = loadError(tmp);
        assertTrue(m.contains(tmp.toString()) && m.contains("no tokenizer.json"), m);
        assertFalse(Tokenizers.present(tmp));
        Files.writeString(tmp.resolve("tokenizer.json"), "{ not json");
        m = loadError(tmp);
        assertTrue(m.contains("tokenizer.json") && m.contains("not readable JSON"), m);
        tokenizerDir(tmp, j -> {});
        Files.writeString(tmp.resolve("tokenizer_config.json"), "{\"bos_token\": \"<nope>\", \"add_bos_token\": true}");
        m = loadError(tmp);
        assertTrue(m.contains("tokenizer_config.json") && m.contains("bos_token") && m.contains("<nope>"), m);
    }

    @Test
    void aModelDirectoryLoadsLikeTheBundledTokenizer(@TempDir Path tmp) throws IOException {
        Tokenizers.writeBundled(tmp);
        Tokenizer dir = Tokenizers.load(tmp), bundled = Tokenizers.bundled();
        String text = "<｜User｜>Hello, 世界!<｜Assistant｜>";
        assertArrayEquals(bundled.encode(text, true), dir.encode(text, true));
        // The directory's template is tokenizer_config.json's (DeepSeek-V3's); the bundled one is R1's.
        var messages = List.of(Map.of("role", "user", "content", "hi"));
        assertEquals("<｜begin▁of▁sentence｜><｜User｜>hi<｜Assistant｜>", dir.chatTemplate().orElseThrow().render(messages, null, true));
        assertEquals("<｜begin▁of▁sentence｜><｜User｜>hi<｜Assistant｜><think>\n", bundled.chatTemplate().orElseThrow().render(messages, null, true));
        // chat_template.jinja beside the config takes precedence, as in transformers.
        Files.writeString(tmp.resolve("chat_template.jinja"), "{{ bos_token }}{% for m in messages %}[{{ m.content }}]{% endfor %}");
        assertEquals("<｜begin▁of▁sentence｜>[hi]", Tokenizers.load(tmp).chatTemplate().orElseThrow().render(messages, null, false));
    }

    @Test
    void lookupsForOtherPackages() {
        Tokenizer tok = Tokenizers.bundled();
        assertEquals(128815, tok.vocabSize());
        assertEquals("<｜begin▁of▁sentence｜>", tok.bosToken().orElseThrow());
        assertEquals("<｜end▁of▁sentence｜>", tok.eosToken().orElseThrow());
        assertEquals(128803, tok.idOf("<｜User｜>").orElseThrow());
        int hello = tok.encode(" Hello", false)[0];
        assertEquals(hello, tok.idOf("ĠHello").orElseThrow());
        assertEquals(" Hello", tok.tokenText(hello));
        assertArrayEquals(" Hello".getBytes(StandardCharsets.UTF_8), tok.tokenBytes(hello));
        assertTrue(tok.idOf("no such token").isEmpty());
        assertTrue(tok.isSpecial(1) && !tok.isSpecial(hello) && !tok.isSpecial(-1) && !tok.isSpecial(10_000_000));
        assertEquals("", tok.tokenText(129_000)); // model rows beyond the vocabulary decode to nothing, as in HF
        int leadByte = tok.idOf(String.valueOf(ByteLevel.charOf(0xE2))).orElseThrow(); // first byte of "€" alone
        assertEquals("\uFFFD", tok.tokenText(leadByte));
        assertArrayEquals(new byte[] {(byte) 0xE2}, tok.tokenBytes(leadByte));
    }
}
