package kiln.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import kiln.engine.Output.TokenLogprob;
import kiln.tokenizer.Tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.List;

/** Token logprobs in the three shapes the APIs use: SGLang's triples, OpenAI completions' and OpenAI chat's. */
final class Logprobs {
    private Logprobs() {}

    /** The text shown for a token: its decoded text, or {@code token_id:N} when there is no tokenizer. */
    interface Namer {
        String name(int id);

        /** The token's UTF-8 bytes (a piece of a multi-byte character has only some of them). */
        default byte[] bytes(int id) {
            String name = name(id);
            return name == null ? new byte[0] : name.getBytes(StandardCharsets.UTF_8);
        }
    }

    /** SGLang writes null text unless return_text_in_logprobs; {@code tokenizer} null gives those nulls. */
    static Namer namer(Tokenizer tokenizer) {
        return tokenizer == null ? id -> null : tokenizer::tokenText;
    }

    /** OpenAI responses always name tokens; without a tokenizer, by id (as vLLM's return_tokens_as_token_ids). */
    static Namer openAiNamer(Tokenizer tokenizer) {
        if (tokenizer == null) return id -> "token_id:" + id;
        return new Namer() {
            @Override
            public String name(int id) {
                return tokenizer.tokenText(id);
            }

            @Override
            public byte[] bytes(int id) {
                return tokenizer.tokenBytes(id);
            }
        };
    }

    /** {@code [[logprob, id, text], ...]}, logprob null for a prompt's first token. */
    static ArrayNode sglang(List<TokenLogprob> lps, Namer namer) {
        ArrayNode out = Json.array();
        for (TokenLogprob t : lps) out.add(triple(t.logprob(), t.tokenId(), namer));
        return out;
    }

    /** Per position, the top alternatives as triples, or null where there are none (the prompt's first token). */
    static ArrayNode sglangTop(List<TokenLogprob> lps, Namer namer) {
        ArrayNode out = Json.array();
        for (TokenLogprob t : lps) {
            if (t.logprob() == null || t.topIds() == null) {
                out.addNull();
                continue;
            }
            ArrayNode alts = out.addArray();
            for (int i = 0; i < t.topIds().length; i++) alts.add(triple(t.topLogprobs()[i], t.topIds()[i], namer));
        }
        return out;
    }

    private static ArrayNode triple(Float logprob, int id, Namer namer) {
        ArrayNode a = Json.array();
        if (logprob == null) a.addNull();
        else a.add(Json.logprob(logprob));
        a.add(id);
        String text = namer.name(id);
        if (text == null) a.addNull();
        else a.add(text);
        return a;
    }

    /**
     * OpenAI completions' {@code logprobs}: parallel lists {@code tokens}, {@code token_logprobs}, {@code top_logprobs}
     * (a map per position) and {@code text_offset}, appended to {@code into} starting at text offset {@code offset}.
     */
    static int appendCompletion(ObjectNode into, List<TokenLogprob> lps, Namer namer, int offset, int top) {
        ArrayNode tokens = (ArrayNode) into.withArray("tokens");
        ArrayNode values = (ArrayNode) into.withArray("token_logprobs");
        ArrayNode tops = (ArrayNode) into.withArray("top_logprobs");
        ArrayNode offsets = (ArrayNode) into.withArray("text_offset");
        for (TokenLogprob t : lps) {
            String text = namer.name(t.tokenId());
            tokens.add(text);
            if (t.logprob() == null) values.addNull();
            else values.add(Json.logprob(t.logprob()));
            if (top > 0 && t.logprob() != null && t.topIds() != null) {
                ObjectNode m = tops.addObject();
                for (int i = 0; i < t.topIds().length; i++) m.put(namer.name(t.topIds()[i]), Json.logprob(t.topLogprobs()[i]));
            } else {
                tops.addNull();
            }
            offsets.add(offset);
            offset += text.length();
        }
        return offset;
    }

    /** OpenAI chat's {@code logprobs.content} entries: token, logprob, bytes, top_logprobs. */
    static void appendChat(ArrayNode content, List<TokenLogprob> lps, Namer namer) {
        for (TokenLogprob t : lps) {
            ObjectNode e = chatEntry(t.tokenId(), t.logprob() == null ? 0f : t.logprob(), namer);
            ArrayNode top = e.putArray("top_logprobs");
            if (t.topIds() != null) {
                for (int i = 0; i < t.topIds().length; i++) top.add(chatEntry(t.topIds()[i], t.topLogprobs()[i], namer));
            }
            content.add(e);
        }
    }

    private static ObjectNode chatEntry(int id, float logprob, Namer namer) {
        ObjectNode e = Json.object();
        String text = namer.name(id);
        e.put("token", text);
        e.put("logprob", Json.logprob(logprob));
        ArrayNode bytes = e.putArray("bytes");
        for (byte b : namer.bytes(id)) bytes.add(b & 0xff);
        return e;
    }
}
