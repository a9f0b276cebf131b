package kiln;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The kiln.* properties are read in one place, each one is used, and docs/properties.md lists them as they are. */
class KilnPropertyTest {
    private static final Pattern DIRECT_READ = Pattern.compile("(System\\.getProperty|Boolean\\.getBoolean|Integer\\.getInteger|Long\\.getLong)\\(\\s*\"kiln\\.");

    private static List<Path> javaSources() throws Exception {
        try (Stream<Path> s = Stream.concat(Files.walk(Path.of("src", "main", "java")), Files.walk(Path.of("src", "test", "java")))) {
            return s.filter(p -> p.toString().endsWith(".java")).toList();
        }
    }

    @Test
    void onlyKilnPropertyReadsThem() throws Exception {
        List<String> readers = new ArrayList<>();
        for (Path p : javaSources()) {
            if (p.getFileName().toString().equals("KilnProperty.java") || p.getFileName().toString().equals("KilnPropertyTest.java")) continue;
            if (DIRECT_READ.matcher(Files.readString(p)).find()) readers.add(p.toString());
        }
        assertEquals(List.of(), readers, "read kiln.* properties through KilnProperty, not directly");
    }

    @Test
    void everyPropertyIsUsed() throws Exception {
        StringBuilder all = new StringBuilder();
        for (Path p : javaSources()) if (!p.getFileName().toString().startsWith("KilnProperty")) all.append(Files.readString(p));
        List<String> unused = new ArrayList<>();
        for (KilnProperty k : KilnProperty.values()) if (!all.toString().contains("KilnProperty." + k.name())) unused.add(k.key());
        assertEquals(List.of(), unused, "properties nothing reads");
    }

    @Test
    void docsListEachWithItsDefault() throws Exception {
        String doc = Files.readString(Path.of("docs", "properties.md"));
        List<String> missing = new ArrayList<>();
        for (KilnProperty k : KilnProperty.values()) {
            String row = "| `" + k.key() + "` | " + (k.defaultValue().isEmpty() ? "" : "`" + k.defaultValue() + "`") + " |";
            if (!doc.contains(row)) missing.add(row);
        }
        assertEquals(List.of(), missing, "docs/properties.md rows (key and default as KilnProperty has them)");
        long documented = doc.lines().filter(l -> l.startsWith("| `kiln.")).count();
        assertEquals(KilnProperty.values().length, documented, "docs/properties.md lists a property KilnProperty does not have");
    }

    @Test
    void misspeltBooleansAreRefusedByName() {
        String key = KilnProperty.CUDA_GEMV2.key(), before = System.getProperty(key);
        try {
            System.setProperty(key, "flase");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, KilnProperty.CUDA_GEMV2::flag);
            assertTrue(e.getMessage().contains(key) && e.getMessage().contains("flase"), e.getMessage());
            System.setProperty(key, "FALSE");
            assertEquals(false, KilnProperty.CUDA_GEMV2.flag());
        } finally {
            if (before == null) System.clearProperty(key);
            else System.setProperty(key, before);
        }
        assertEquals(true, KilnProperty.CUDA_GEMV2.flag(), "unset: the default");
    }
}
