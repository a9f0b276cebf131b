package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import kiln.tokenizer.Tokenizer;

/**
 * {@code POST /v1/tokenize} ({@code prompt}, or {@code messages} rendered with the chat template) and
 * {@code POST /v1/detokenize}, as SGLang (also under /tokenize and /detokenize).
 */
final class TokenizeApi {
    private final Serving serving;
    private final ChatApi chat;

    TokenizeApi(Serving serving, ChatApi chat) {
        this.serving = serving;
        this.chat = chat;
    }

    void register(Routes r) {
        for (String prefix : new String[]{"/v1", ""}) {
            r.post(prefix + "/tokenize", Http.guarded(this::tokenize));
            r.post(prefix + "/detokenize", Http.guarded(this::detokenize));
        }
    }

    private void tokenize(ServerRequest req, ServerResponse res) {
        Fields body = Fields.of(Http.body(req));
        serving.checkModel(body.string("model"));
        Tokenizer tok = serving.requireTokenizer("tokenize");
        int[] ids;
        if (body.has("messages")) {
            if (body.has("prompt")) throw ApiException.badRequest("give prompt or messages, not both", "prompt");
            Boolean gen = body.bool("add_generation_prompt");
            ids = tok.encode(chat.render(body, gen == null || gen), false);
        } else {
            JsonNode prompt = body.raw("prompt");
            if (prompt == null) throw ApiException.badRequest("prompt (a string) or messages is required", "prompt");
            if (!prompt.isTextual()) throw body.wrongType("prompt", "a string", prompt);
            Boolean special = body.bool("add_special_tokens");
            ids = tok.encode(prompt.asText(), special == null || special);
        }
        ObjectNode out = Json.object();
        ArrayNode tokens = out.putArray("tokens");
        for (int id : ids) tokens.add(id);
        out.put("count", ids.length);
        out.put("max_model_len", serving.engine.contextLength());
        Http.sendJson(res, 200, out);
    }

    private void detokenize(ServerRequest req, ServerResponse res) {
        Fields body = Fields.of(Http.body(req));
        serving.checkModel(body.string("model"));
        Tokenizer tok = serving.requireTokenizer("detokenize");
        JsonNode tokens = body.raw("tokens");
        if (tokens == null || !tokens.isArray()) throw ApiException.badRequest("tokens (a list of token ids) is required", "tokens");
        int[] ids = new int[tokens.size()];
        // the model's vocabulary may be padded past the tokenizer's (DeepSeek: 129280 vs 128815); those ids decode to nothing
        int vocab = Math.max(tok.vocabSize(), serving.engine.model().config().vocabSize());
        for (int i = 0; i < ids.length; i++) {
            ids[i] = Fields.toInt(tokens.get(i), "tokens[" + i + "]");
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw ApiException.badRequest("tokens[" + i + "] = " + ids[i] + " is outside the vocabulary [0, " + vocab + ")", "tokens");
            }
        }
        Boolean skip = body.bool("skip_special_tokens");
        ObjectNode out = Json.object();
        out.put("text", tok.decode(ids, skip != null && skip));
        Http.sendJson(res, 200, out);
    }
}
