package kiln.chat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import kiln.tokenizer.Reference;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Templates that use what HF templates use (Python str methods, tojson with its options, namespace, loops, slicing,
 * trim_blocks/lstrip_blocks, whitespace control) against Python's Jinja2 configured like transformers
 * (testdata/chat-templates/make_reference.py wrote the expected outputs).
 */
class JinjaParityTest {
    static final Path FILE = Path.of("testdata", "chat-templates", "jinja2-reference.json");

    static List<JsonNode> cases() {
        List<JsonNode> cases = new ArrayList<>();
        Reference.json(FILE).get("cases").forEach(cases::add);
        return cases;
    }

    @ParameterizedTest(name = "{index}")
    @MethodSource("cases")
    void rendersLikeJinja2(JsonNode c) {
        @SuppressWarnings("unchecked")
        Map<String, Object> vars = new ObjectMapper().convertValue(c.get("variables"), Map.class);
        assertEquals(c.get("rendered").asText(), ChatTemplate.of(c.get("template").asText(), null, null).render(vars), c.get("name").asText());
    }
}
