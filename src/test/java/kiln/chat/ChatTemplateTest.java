package kiln.chat;

import org.junit.jupiter.api.Test;

import java.time.Year;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Failures a server turns into HTTP 400, and the helpers HF templates expect. */
class ChatTemplateTest {
    private static final String ALTERNATING = """
            {% for message in messages %}
            {% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
            {{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
            {% endif %}
            [{{ message['role'] }}]{{ message['content'] }}
            {% endfor %}""";

    private static Map<String, Object> msg(String role, String content) {
        return Map.of("role", role, "content", content);
    }

    @Test
    void raiseExceptionFailsWithTheTemplatesMessage() {
        ChatTemplate t = ChatTemplate.of(ALTERNATING, "<s>", "</s>");
        assertEquals("[user]hi\n[assistant]hello\n", t.render(List.of(msg("user", "hi"), msg("assistant", "hello")), null, false));
        ChatTemplateException e = assertThrows(ChatTemplateException.class,
                () -> t.render(List.of(msg("user", "hi"), msg("user", "again")), null, false));
        assertEquals("Conversation roles must alternate user/assistant/user/assistant/...", e.getMessage());
    }

    @Test
    void templateErrorsBecomeChatTemplateExceptions() {
        List<Map<String, Object>> messages = List.of(msg("user", "hi"));
        assertThrows(ChatTemplateException.class, () -> ChatTemplate.of("{% if messages %}unclosed", null, null).render(messages, null, false));
        assertThrows(ChatTemplateException.class, () -> ChatTemplate.of("{{ messages[0].content.split('') }}", null, null).render(messages, null, false));
        ChatTemplateException include = assertThrows(ChatTemplateException.class,
                () -> ChatTemplate.of("{% include 'other.jinja' %}", null, null).render(messages, null, false));
        assertTrue(include.getMessage().contains("other.jinja"), include.getMessage());
        assertThrows(ChatTemplateException.class, () -> ChatTemplate.of("{{ 'x' ", null, null));
    }

    @Test
    void specialTokensAndHelpersAreBound() {
        ChatTemplate t = ChatTemplate.of("{{ bos_token }}{{ messages[0].content }}{{ eos_token }}|{{ strftime_now('%Y') }}", "<s>", "</s>");
        assertEquals("<s>hi</s>|" + Year.now().getValue(), t.render(List.of(msg("user", "hi")), null, false));
    }

    @Test
    void rendersFromManyThreadsAtOnce() throws Exception {
        ChatTemplate t = kiln.tokenizer.Tokenizers.bundled().chatTemplate().orElseThrow();
        try (var pool = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            List<java.util.concurrent.Future<String>> results = new java.util.ArrayList<>();
            for (int i = 0; i < 64; i++) {
                String content = "question " + i;
                results.add(pool.submit(() -> t.render(List.of(msg("user", content)), null, true)));
            }
            for (int i = 0; i < 64; i++) {
                assertEquals("<｜begin▁of▁sentence｜><｜User｜>question " + i + "<｜Assistant｜><think>\n", results.get(i).get());
            }
        }
    }

    @Test
    void messageTextIsNeverEvaluated() {
        ChatTemplate t = ChatTemplate.of("{% for m in messages %}{{ m.content }}{% endfor %}", null, null);
        String hostile = "{{ raise_exception('boom') }}{% for x in range(3) %}x{% endfor %}{# c #}";
        assertEquals(hostile, t.render(List.of(msg("user", hostile)), null, false));
    }
}
