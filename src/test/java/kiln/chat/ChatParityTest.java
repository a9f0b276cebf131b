package kiln.chat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import kiln.tokenizer.Reference;
import kiln.tokenizer.Tokenizer;
import kiln.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** Every case of chat.json: DeepSeek-V3's and R1's templates render exactly as transformers and encode to HF's ids. */
class ChatParityTest {
    private final Tokenizer tok = Tokenizers.bundled();

    private ChatTemplate template(String name) {
        return switch (name) {
            case "deepseek-r1" -> tok.chatTemplate().orElseThrow(); // the bundled tokenizer carries R1's template
            case "deepseek-v3" -> ChatTemplate.load(Reference.INPUTS.resolve("chat_template.deepseek-v3.jinja"),
                    tok.bosToken().orElseThrow(), tok.eosToken().orElseThrow());
            default -> throw new IllegalArgumentException(name);
        };
    }

    @Test
    void everyCaseRendersAndEncodesExactly() {
        JsonNode cases = Reference.json(Reference.DIR.resolve("chat.json")).get("cases");
        assertEquals(32, cases.size());
        List<String> failures = new ArrayList<>();
        for (JsonNode c : cases) {
            String label = c.get("template").asText() + "/" + c.get("name").asText() + (c.get("add_generation_prompt").asBoolean() ? "+gen" : "");
            @SuppressWarnings("unchecked")
            List<Object> messages = new ObjectMapper().convertValue(c.get("messages"), List.class);
            String rendered = template(c.get("template").asText()).render(messages, null, c.get("add_generation_prompt").asBoolean());
            if (!c.get("rendered").asText().equals(rendered)) {
                failures.add(label + " renders\n  want " + c.get("rendered").asText() + "\n  got  " + rendered);
                continue;
            }
            int[] ids = tok.encode(rendered, false);
            if (!Arrays.equals(Reference.ids(c.get("ids")), ids)) failures.add(label + " encodes to " + Arrays.toString(ids));
        }
        if (!failures.isEmpty()) fail(failures.size() + " cases differ:\n" + String.join("\n", failures));
    }

    @Test
    void jacksonTreesRenderLikeMaps() {
        JsonNode c = Reference.json(Reference.DIR.resolve("chat.json")).get("cases").get(10);
        List<JsonNode> messages = new ArrayList<>();
        c.get("messages").forEach(messages::add);
        assertEquals(c.get("rendered").asText(), template(c.get("template").asText())
                .render(Map.of("messages", messages, "add_generation_prompt", c.get("add_generation_prompt").asBoolean())));
    }
}
