package kiln.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import kiln.chat.ChatTemplate;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.PatternSyntaxException;

/**
 * Reads tokenizer.json and tokenizer_config.json into a {@link HfTokenizer}. Every component is checked here, at
 * load: one that Kiln does not implement fails with its JSON path and type named, never later with wrong ids.
 */
final class TokenizerFiles {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String file; // named in every error

    private TokenizerFiles(String file) {
        this.file = file;
    }

    static JsonNode readJson(InputStream in, String name) {
        try (in) {
            return JSON.readTree(in);
        } catch (IOException e) {
            throw new TokenizerException(name + ": not readable JSON: " + e.getMessage(), e);
        }
    }

    /**
     * Builds the tokenizer. {@code config} may be null (no tokenizer_config.json); {@code chatTemplate}, when not
     * null, replaces the config's template.
     */
    static HfTokenizer build(JsonNode tokenizerJson, String tokenizerName, JsonNode config, String configName, String chatTemplate) {
        return new TokenizerFiles(tokenizerName).build(tokenizerJson, config, configName, chatTemplate);
    }

    private HfTokenizer build(JsonNode root, JsonNode config, String configName, String chatTemplate) {
        JsonNode model = required(root, "model");
        String modelType = model.path("type").asText("BPE");
        if (!modelType.equals("BPE")) throw fail("model.type", "\"" + modelType + "\" is not supported (Kiln implements byte-level BPE)");
        unsupportedIfSet(model, "dropout");
        unsupportedIfSet(model, "continuing_subword_prefix");
        unsupportedIfSet(model, "end_of_word_suffix");
        if (model.path("byte_fallback").asBoolean(false)) throw fail("model.byte_fallback", "true is not supported (Kiln implements byte-level BPE)");

        Map<String, Integer> vocab = new HashMap<>(model.path("vocab").size() * 2);
        int maxId = -1;
        for (var it = required(model, "vocab").properties().iterator(); it.hasNext(); ) {
            var e = it.next();
            int id = e.getValue().asInt(-1);
            if (id < 0) throw fail("model.vocab[\"" + e.getKey() + "\"]", "id must be a non-negative integer");
            vocab.put(e.getKey(), id);
            maxId = Math.max(maxId, id);
        }
        MergeTable merges = merges(required(model, "merges"), vocab);

        List<AddedTokens.Token> added = new ArrayList<>();
        for (JsonNode t : root.path("added_tokens")) {
            added.add(new AddedTokens.Token(t.path("id").asInt(), t.path("content").asText(), t.path("special").asBoolean(false),
                    t.path("normalized").asBoolean(true), t.path("lstrip").asBoolean(false), t.path("rstrip").asBoolean(false),
                    t.path("single_word").asBoolean(false)));
            maxId = Math.max(maxId, t.path("id").asInt());
        }

        byte[][] tokenBytes = new byte[maxId + 1][];
        boolean[] special = new boolean[maxId + 1];
        Map<String, Integer> tokenToId = new HashMap<>(vocab);
        vocab.forEach((token, id) -> tokenBytes[id] = ByteLevel.decode(token));
        for (AddedTokens.Token t : added) {
            tokenBytes[t.id()] = t.content().getBytes(StandardCharsets.UTF_8);
            special[t.id()] = t.special();
            tokenToId.put(t.content(), t.id());
        }

        Normalizer normalizer = normalizer(root.path("normalizer"), "normalizer");
        List<Split> splits = new ArrayList<>();
        boolean[] prefixSpace = new boolean[1];
        boolean byteLevel = preTokenizer(root.path("pre_tokenizer"), "pre_tokenizer", splits, prefixSpace);
        if (!byteLevel) throw fail("pre_tokenizer", "has no ByteLevel step; Kiln implements byte-level BPE only");
        checkDecoder(root.path("decoder"), "decoder");

        // Like HF: added tokens marked normalized are looked for after normalization, the others in the raw text.
        AddedTokens raw = new AddedTokens(added.stream().filter(t -> !t.normalized()).toList());
        AddedTokens normalized = new AddedTokens(added.stream().filter(AddedTokens.Token::normalized).toList());

        Bpe bpe = new Bpe(vocab, merges, model.path("ignore_merges").asBoolean(false));

        // BOS/EOS: tokenizer_config.json's add_bos_token/add_eos_token when it has them (transformers rebuilds the
        // post-processor from them), else the TemplateProcessing post-processor of tokenizer.json.
        String bosToken = config == null ? null : tokenText(config.get("bos_token"));
        String eosToken = config == null ? null : tokenText(config.get("eos_token"));
        int bosId = idOf(tokenToId, bosToken, configName, "bos_token");
        int eosId = idOf(tokenToId, eosToken, configName, "eos_token");
        int[][] template = postProcessor(root.path("post_processor"), "post_processor");
        int[] prefix = template[0], suffix = template[1];
        if (config != null && (config.has("add_bos_token") || config.has("add_eos_token"))) {
            boolean addBos = config.path("add_bos_token").asBoolean(false), addEos = config.path("add_eos_token").asBoolean(false);
            if (addBos && bosId < 0) throw new TokenizerException(configName + ": add_bos_token is true but bos_token is missing or unknown");
            if (addEos && eosId < 0) throw new TokenizerException(configName + ": add_eos_token is true but eos_token is missing or unknown");
            prefix = addBos ? new int[] {bosId} : new int[0];
            suffix = addEos ? new int[] {eosId} : new int[0];
        }

        String templateSource = chatTemplate != null ? chatTemplate : configTemplate(config, configName);
        ChatTemplate tpl = templateSource == null ? null : ChatTemplate.of(templateSource, bosToken, eosToken);

        return new HfTokenizer(new HfTokenizer.Parts(tokenToId, tokenBytes, special, raw, normalized, normalizer, List.copyOf(splits),
                prefixSpace[0], bpe, prefix, suffix, bosToken, eosToken, bosId, eosId >= 0 ? List.of(eosId) : List.of(), tpl));
    }

    private MergeTable merges(JsonNode merges, Map<String, Integer> vocab) {
        MergeTable table = new MergeTable(merges.size());
        int rank = 0;
        for (JsonNode m : merges) {
            String left, right;
            if (m.isArray() && m.size() == 2) { // newer files: ["a", "b"]
                left = m.get(0).asText();
                right = m.get(1).asText();
            } else {
                String s = m.asText();
                int space = s.indexOf(' ');
                if (space < 0 || s.indexOf(' ', space + 1) >= 0) throw fail("model.merges[" + rank + "]", "\"" + s + "\" is not two tokens separated by one space");
                left = s.substring(0, space);
                right = s.substring(space + 1);
            }
            Integer a = vocab.get(left), b = vocab.get(right), ab = vocab.get(left + right);
            if (a == null || b == null || ab == null) {
                throw fail("model.merges[" + rank + "]", "(" + left + ", " + right + ") uses a token missing from model.vocab");
            }
            table.put(a, b, rank, ab);
            rank++;
        }
        return table;
    }

    private Normalizer normalizer(JsonNode n, String path) {
        if (n.isMissingNode() || n.isNull()) return null;
        String type = n.path("type").asText();
        return switch (type) {
            case "NFC" -> new Normalizer.Unicode(java.text.Normalizer.Form.NFC);
            case "NFD" -> new Normalizer.Unicode(java.text.Normalizer.Form.NFD);
            case "NFKC" -> new Normalizer.Unicode(java.text.Normalizer.Form.NFKC);
            case "NFKD" -> new Normalizer.Unicode(java.text.Normalizer.Form.NFKD);
            case "Lowercase" -> new Normalizer.Lowercase();
            case "Sequence" -> {
                List<Normalizer> steps = new ArrayList<>();
                int i = 0;
                for (JsonNode s : n.path("normalizers")) {
                    Normalizer step = normalizer(s, path + ".normalizers[" + i++ + "]");
                    if (step != null) steps.add(step);
                }
                yield steps.isEmpty() ? null : new Normalizer.Sequence(List.copyOf(steps));
            }
            default -> throw fail(path, "type \"" + type + "\" is not supported (Kiln implements NFC, NFD, NFKC, NFKD, Lowercase, Sequence)");
        };
    }

    /** Appends the splits of {@code n} to {@code splits}; true when a ByteLevel step was seen (it must come last). */
    private boolean preTokenizer(JsonNode n, String path, List<Split> splits, boolean[] prefixSpace) {
        if (n.isMissingNode() || n.isNull()) return false;
        String type = n.path("type").asText();
        switch (type) {
            case "Sequence" -> {
                boolean byteLevel = false;
                int i = 0;
                for (JsonNode step : n.path("pretokenizers")) {
                    String stepPath = path + ".pretokenizers[" + i++ + "]";
                    if (byteLevel) throw fail(stepPath, "comes after ByteLevel; Kiln needs ByteLevel as the last pre-tokenizer");
                    byteLevel = preTokenizer(step, stepPath, splits, prefixSpace);
                }
                return byteLevel;
            }
            case "Split" -> {
                splits.add(split(n.path("pattern"), path + ".pattern", behavior(n.path("behavior").asText(), path + ".behavior"),
                        n.path("invert").asBoolean(false)));
                return false;
            }
            case "Digits" -> {
                boolean individual = n.path("individual_digits").asBoolean(false);
                splits.add(Split.regex(individual ? "\\p{N}" : "\\p{N}+", Split.Behavior.ISOLATED, false));
                return false;
            }
            case "ByteLevel" -> {
                if (n.path("add_prefix_space").asBoolean(true)) {
                    // HF adds the space to each piece present when ByteLevel runs; Kiln adds it to the whole text
                    // segment, which is the same only when nothing was split before.
                    if (!splits.isEmpty()) throw fail(path + ".add_prefix_space", "true after other pre-tokenizers is not supported");
                    prefixSpace[0] = true;
                }
                if (n.path("use_regex").asBoolean(true)) splits.add(Split.regex(Split.GPT2_PATTERN, Split.Behavior.ISOLATED, false));
                return true;
            }
            default -> throw fail(path, "type \"" + type + "\" is not supported (Kiln implements Sequence, Split, Digits, ByteLevel)");
        }
    }

    private Split split(JsonNode n, String path, Split.Behavior behavior, boolean invert) {
        try {
            if (n.has("Regex")) return Split.regex(n.get("Regex").asText(), behavior, invert);
            if (n.has("String")) return Split.literal(n.get("String").asText(), behavior, invert);
        } catch (PatternSyntaxException e) {
            throw new TokenizerException(file + ": " + path + ": regex does not compile in Java: " + e.getDescription(), e);
        }
        throw fail(path, "needs a \"Regex\" or \"String\"");
    }

    private Split.Behavior behavior(String name, String path) {
        return switch (name) {
            case "Removed" -> Split.Behavior.REMOVED;
            case "Isolated" -> Split.Behavior.ISOLATED;
            case "MergedWithPrevious" -> Split.Behavior.MERGED_WITH_PREVIOUS;
            case "MergedWithNext" -> Split.Behavior.MERGED_WITH_NEXT;
            case "Contiguous" -> Split.Behavior.CONTIGUOUS;
            default -> throw fail(path, "\"" + name + "\" is not a known behavior");
        };
    }

    private void checkDecoder(JsonNode n, String path) {
        String type = n.path("type").asText("(none)");
        switch (type) {
            case "ByteLevel" -> {}
            case "Sequence" -> {
                int i = 0;
                for (JsonNode d : n.path("decoders")) checkDecoder(d, path + ".decoders[" + i++ + "]");
            }
            default -> throw fail(path, "type " + type + " is not supported (Kiln decodes byte-level BPE: ByteLevel)");
        }
    }

    /** The ids the post-processor puts before and after a single sequence. */
    private int[][] postProcessor(JsonNode n, String path) {
        if (n.isMissingNode() || n.isNull()) return new int[][] {{}, {}};
        String type = n.path("type").asText();
        switch (type) {
            case "ByteLevel" -> {
                return new int[][] {{}, {}};
            }
            case "Sequence" -> {
                List<Integer> before = new ArrayList<>(), after = new ArrayList<>();
                int i = 0;
                for (JsonNode p : n.path("processors")) {
                    int[][] r = postProcessor(p, path + ".processors[" + i++ + "]");
                    for (int id : r[0]) before.add(id);
                    for (int id : r[1]) after.add(id);
                }
                return new int[][] {before.stream().mapToInt(Integer::intValue).toArray(), after.stream().mapToInt(Integer::intValue).toArray()};
            }
            case "TemplateProcessing" -> {
                List<Integer> before = new ArrayList<>(), after = new ArrayList<>();
                boolean seenSequence = false;
                for (JsonNode item : n.path("single")) {
                    if (item.has("Sequence")) {
                        seenSequence = true;
                    } else if (item.has("SpecialToken")) {
                        String name = item.get("SpecialToken").path("id").asText();
                        JsonNode ids = n.path("special_tokens").path(name).path("ids");
                        if (!ids.isArray()) throw fail(path + ".special_tokens", "lacks \"" + name + "\"");
                        for (JsonNode id : ids) (seenSequence ? after : before).add(id.asInt());
                    }
                }
                return new int[][] {before.stream().mapToInt(Integer::intValue).toArray(), after.stream().mapToInt(Integer::intValue).toArray()};
            }
            default -> throw fail(path, "type \"" + type + "\" is not supported (Kiln implements ByteLevel, TemplateProcessing, Sequence)");
        }
    }

    /** A special token of tokenizer_config.json: a string or an AddedToken object with "content". */
    private static String tokenText(JsonNode n) {
        if (n == null || n.isNull()) return null;
        if (n.isTextual()) return n.asText();
        JsonNode content = n.get("content");
        return content == null || content.isNull() ? null : content.asText();
    }

    private static int idOf(Map<String, Integer> tokenToId, String token, String configName, String field) {
        if (token == null) return -1;
        Integer id = tokenToId.get(token);
        if (id == null) throw new TokenizerException(configName + ": " + field + " \"" + token + "\" is not in the tokenizer's vocabulary");
        return id;
    }

    /** {@code chat_template}: one string, or a list of named templates of which "default" is used. */
    private static String configTemplate(JsonNode config, String configName) {
        if (config == null) return null;
        JsonNode t = config.get("chat_template");
        if (t == null || t.isNull()) return null;
        if (t.isTextual()) return t.asText();
        if (t.isArray()) {
            for (JsonNode named : t) if ("default".equals(named.path("name").asText())) return named.path("template").asText();
            throw new TokenizerException(configName + ": chat_template lists templates but none is named \"default\"");
        }
        throw new TokenizerException(configName + ": chat_template must be a string or a list of {name, template}");
    }

    private JsonNode required(JsonNode parent, String field) {
        JsonNode n = parent.get(field);
        if (n == null || n.isNull()) throw fail(field, "is missing");
        return n;
    }

    private void unsupportedIfSet(JsonNode model, String field) {
        JsonNode n = model.get(field);
        boolean unset = n == null || n.isNull() || (n.isTextual() && n.asText().isEmpty()) || (n.isNumber() && n.asDouble() == 0);
        if (!unset) {
            throw fail("model." + field, n + " is not supported (Kiln implements byte-level BPE without it)");
        }
    }

    private TokenizerException fail(String path, String problem) {
        throw new TokenizerException(file + ": " + path + ": " + problem);
    }
}
