package kiln.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The HF reference files of testdata/fixtures (computed by HF tokenizers 0.23 and transformers 5.17). */
public final class Reference {
    private Reference() {}

    public static final Path DIR = Path.of("testdata", "fixtures", "tokenizer-reference");
    public static final Path INPUTS = Path.of("testdata", "fixtures", "deepseek-tokenizer");

    public record Row(String text, int[] ids, String decoded, String decodedSkipSpecial) {}

    public static JsonNode json(Path file) {
        try {
            return new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static List<Row> encodeRows() {
        List<Row> rows = new ArrayList<>();
        for (JsonNode r : json(DIR.resolve("encode.json")).get("rows")) {
            rows.add(new Row(r.get("text").asText(), ids(r.get("ids")), r.get("decoded").asText(), r.get("decoded_skip_special").asText()));
        }
        return rows;
    }

    public static int[] ids(JsonNode n) {
        int[] ids = new int[n.size()];
        for (int i = 0; i < ids.length; i++) ids[i] = n.get(i).asInt();
        return ids;
    }
}
