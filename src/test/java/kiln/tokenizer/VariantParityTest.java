package kiln.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * tokenizer.json components that DeepSeek's tokenizer does not use (Qwen2/Llama 3/GPT-2 style pre-tokenizers, NFC,
 * NFKC and Lowercase, every Split behavior, invert, Digits, TemplateProcessing, ignore_merges, added-token options),
 * each against HF tokenizers 0.23.2 (testdata/tokenizer-variants, written by tools/hf-tokenizers/make-variants.js).
 */
class VariantParityTest {
    static final Path DIR = Path.of("testdata", "tokenizer-variants");
    private static final ObjectMapper JSON = new ObjectMapper();

    static List<JsonNode> variants() {
        List<JsonNode> cases = new ArrayList<>();
        Reference.json(DIR.resolve("variants.json")).get("cases").forEach(cases::add);
        return cases;
    }

    @ParameterizedTest(name = "{index}")
    @MethodSource("variants")
    void encodesAndDecodesLikeHf(JsonNode variant, @TempDir Path tmp) throws IOException {
        ObjectNode json = variant.get("tokenizer").deepCopy();
        ObjectNode model = (ObjectNode) Reference.json(DIR.resolve("model.json"));
        if (variant.get("ignore_merges").asBoolean()) model.put("ignore_merges", true);
        json.set("model", model);
        Files.writeString(tmp.resolve("tokenizer.json"), JSON.writeValueAsString(json));
        Tokenizer tok = Tokenizers.load(tmp);
        String name = variant.get("name").asText();
        for (JsonNode row : variant.get("rows")) {
            String text = row.get("text").asText(), label = name + " " + EncodeParityTest.abbreviate(text);
            int[] ids = Reference.ids(row.get("ids"));
            assertArrayEquals(ids, tok.encode(text, false), label + ": " + Arrays.toString(tok.encode(text, false)));
            assertArrayEquals(Reference.ids(row.get("ids_with_special")), tok.encode(text, true), label + " with special tokens");
            assertEquals(row.get("decoded").asText(), tok.decode(ids, false), label + " decoded");
            assertEquals(row.get("decoded_skip_special").asText(), tok.decode(ids, true), label + " decoded without specials");
        }
    }
}
