package kiln.bench;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A ShareGPT-format JSON file (a list of {"conversations": [{"value": ...}, ...]}), read as the (prompt,
 * completion) pairs of its conversations' first two turns. The file is streamed: the usual one is 650 MB.
 */
public final class ShareGptFile {
    public static final String FILE_NAME = "ShareGPT_V3_unfiltered_cleaned_split.json";
    public static final String URL = "https://huggingface.co/datasets/anon8231489123/ShareGPT_Vicuna_unfiltered/resolve/main/"
            + FILE_NAME;

    public record Pair(String prompt, String completion) {}

    private ShareGptFile() {}

    /**
     * The file to read: {@code --dataset-path} when given, else a copy of the standard file in
     * {@code ~/.cache/kiln/} or {@code /tmp/} (where SGLang caches it); null when there is none. Kiln never
     * downloads it (benchmarks often run offline): fetch it once from {@link #URL}.
     */
    public static Path locate(String datasetPath) {
        if (datasetPath != null && !datasetPath.isEmpty()) {
            Path p = Path.of(datasetPath);
            if (!Files.isRegularFile(p)) throw new BenchException("--dataset-path " + datasetPath + ": no such file");
            return p;
        }
        for (Path p : List.of(Path.of(System.getProperty("user.home"), ".cache", "kiln", FILE_NAME), Path.of("/tmp", FILE_NAME)))
            if (Files.isRegularFile(p)) return p;
        return null;
    }

    /** The conversations with at least two turns, as (first turn, second turn). */
    public static List<Pair> read(Path file) {
        ObjectMapper mapper = new ObjectMapper();
        List<Pair> pairs = new ArrayList<>();
        try (JsonParser p = mapper.createParser(file.toFile())) {
            if (p.nextToken() != JsonToken.START_ARRAY) throw new BenchException(file + ": a ShareGPT file is a JSON list of conversations");
            while (p.nextToken() == JsonToken.START_OBJECT) {
                JsonNode item = mapper.readTree(p);
                JsonNode turns = item.has("conversations") ? item.get("conversations") : item.path("conversation");
                if (turns.isArray() && turns.size() >= 2)
                    pairs.add(new Pair(turns.get(0).path("value").asText(""), turns.get(1).path("value").asText("")));
            }
        } catch (IOException e) {
            throw new BenchException(file + " is not a readable ShareGPT JSON file: " + e.getMessage(), e);
        }
        return pairs;
    }
}
