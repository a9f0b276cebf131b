package kiln.server;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** docs/server.md's request-field table says what {@link RequestFields} does: the same fields per route, refusals as refused. */
class RequestFieldsTest {
    private static final Map<String, RequestFields.Route> ROUTES = Map.of("chat", RequestFields.Route.CHAT,
            "completions", RequestFields.Route.COMPLETIONS, "generate", RequestFields.Route.GENERATE);

    @Test
    void theDocumentedTableMatchesTheCode() throws IOException {
        String doc = Files.readString(Path.of("docs", "server.md"));
        int from = doc.indexOf("### Request fields"), to = doc.indexOf("### Metrics");
        assertTrue(from >= 0 && to > from, "docs/server.md has no Request fields section before Metrics");
        Map<RequestFields.Route, Map<String, String>> documented = new EnumMap<>(RequestFields.Route.class);
        for (RequestFields.Route r : RequestFields.Route.values()) documented.put(r, new HashMap<>());
        for (String line : doc.substring(from, to).split("\n")) {
            if (!line.startsWith("| `")) continue;
            String[] cells = line.split(" \\| ");
            String status = cells[2].replaceAll(" \\|$", "");
            for (String route : cells[1].split(", ")) {
                RequestFields.Route r = ROUTES.get(route.strip());
                for (String f : cells[0].substring(2).split(", ")) {
                    String field = f.replace("`", "").strip();
                    assertFalse(documented.get(r).containsKey(field), field + " is listed twice for " + route);
                    documented.get(r).put(field, status);
                }
            }
        }
        for (RequestFields.Route r : RequestFields.Route.values()) {
            Set<String> code = new HashSet<>(RequestFields.read(r));
            code.addAll(RequestFields.notImplemented(r));
            assertEquals(new java.util.TreeSet<>(code), new java.util.TreeSet<>(documented.get(r).keySet()), r.path);
            for (String field : RequestFields.notImplemented(r)) {
                assertTrue(documented.get(r).get(field).startsWith("refused"), r.path + " " + field + ": " + documented.get(r).get(field));
            }
        }
    }

    @Test
    void aFieldIsReadRefusedOrUnknownNeverTwo() {
        for (RequestFields.Route r : RequestFields.Route.values()) {
            Set<String> both = new HashSet<>(RequestFields.read(r));
            both.retainAll(RequestFields.notImplemented(r));
            assertTrue(both.isEmpty(), r.path + ": " + both);
        }
    }
}
