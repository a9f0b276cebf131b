package kiln.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * A HuggingFace checkpoint directory: {@code model.safetensors}, or shards listed by
 * {@code model.safetensors.index.json}, or (no index) every {@code *.safetensors} file in the directory.
 * All shards are mapped into one arena that lives as long as this object.
 */
public final class Checkpoint implements AutoCloseable {
    private final Path dir;
    private final Arena arena = Arena.ofShared();
    private final Map<String, TensorData> tensors = new HashMap<>();
    private final List<Path> files = new ArrayList<>();

    private Checkpoint(Path dir) {
        this.dir = dir;
    }

    public static Checkpoint open(Path dir) {
        Checkpoint c = new Checkpoint(dir);
        try {
            c.load();
            return c;
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
    }

    private void load() {
        if (!Files.isDirectory(dir)) throw new CheckpointException(dir + ": not a directory");
        Path index = dir.resolve("model.safetensors.index.json");
        Map<String, String> expected = new LinkedHashMap<>();
        if (Files.exists(index)) {
            JsonNode weightMap;
            try {
                weightMap = new ObjectMapper().readTree(index.toFile()).path("weight_map");
            } catch (IOException e) {
                throw new CheckpointException(index + ": cannot parse (" + e.getMessage() + ")");
            }
            if (!weightMap.isObject()) throw new CheckpointException(index + ": has no weight_map object");
            weightMap.properties().forEach(e -> expected.put(e.getKey(), e.getValue().asText()));
            for (String shard : new TreeSet<>(expected.values())) {
                Path p = dir.resolve(shard);
                if (!Files.exists(p)) {
                    String example = expected.entrySet().stream().filter(e -> e.getValue().equals(shard))
                            .map(Map.Entry::getKey).findFirst().orElse("?");
                    throw new CheckpointException(index + ": names shard " + shard
                            + " (holding e.g. " + example + ") but " + p + " does not exist");
                }
                files.add(p);
            }
        } else if (Files.exists(dir.resolve("model.safetensors"))) {
            files.add(dir.resolve("model.safetensors"));
        } else {
            try (Stream<Path> s = Files.list(dir)) {
                s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().forEach(files::add);
            } catch (IOException e) {
                throw new CheckpointException(dir + ": cannot list (" + e.getMessage() + ")");
            }
            if (files.isEmpty()) {
                throw new CheckpointException(dir + ": no model.safetensors, model.safetensors.index.json or *.safetensors files");
            }
        }
        for (Path f : files) tensors.putAll(SafeTensors.open(f, arena).tensors());
        for (var e : expected.entrySet()) {
            if (!tensors.containsKey(e.getKey())) {
                throw new CheckpointException(index + ": lists tensor " + e.getKey() + " in " + e.getValue()
                        + " but that file does not contain it");
            }
        }
    }

    public Path dir() {
        return dir;
    }

    public List<Path> files() {
        return files;
    }

    public boolean has(String name) {
        return tensors.containsKey(name);
    }

    public TensorData get(String name) {
        TensorData t = tensors.get(name);
        if (t == null) {
            throw new CheckpointException(dir + ": tensor " + name + " is missing (checked " + files.size()
                    + " file" + (files.size() == 1 ? "" : "s") + ": " + files.stream().map(p -> p.getFileName().toString()).toList() + ")");
        }
        return t;
    }

    public Map<String, TensorData> all() {
        return tensors;
    }

    @Override
    public void close() {
        arena.close();
    }
}
