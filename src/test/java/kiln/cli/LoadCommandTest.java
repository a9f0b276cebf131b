package kiln.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static kiln.cli.GenerateCommandTest.kiln;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code kiln load}: the embedded default model's config (FP8 blocks that split at tp 2) with dummy weights, loaded
 * as a group of two ranks and as each rank alone: the ranks alone hold what the group holds together.
 */
class LoadCommandTest {
    private static final String CONFIG = Path.of("src", "main", "resources", "kiln", "default-model", "config.json").toString();

    private static JsonNode load(String... extra) throws Exception {
        String[] base = {"load", "--device", "cpu", "--model-path", CONFIG, "--load-format", "dummy", "--json"};
        String[] args = new String[base.length + extra.length];
        System.arraycopy(base, 0, args, 0, base.length);
        System.arraycopy(extra, 0, args, base.length, extra.length);
        GenerateCommandTest.Run run = kiln(args);
        assertEquals(0, run.exit(), run.err());
        return new ObjectMapper().readTree(run.out().lines().filter(l -> l.startsWith("{")).findFirst().orElseThrow());
    }

    @Test
    void aRankAloneHoldsItsShareOfTheGroup() throws Exception {
        JsonNode group = load("--tp", "2"), r0 = load("--tp", "2", "--rank", "0"), r1 = load("--tp", "2", "--rank", "1");
        assertEquals("all", group.get("rank").asText());
        assertEquals(1, r1.get("rank").asInt());
        assertEquals(2, r1.get("tp").asInt());
        assertEquals(group.get("weight_bytes").asLong(), r0.get("weight_bytes").asLong() + r1.get("weight_bytes").asLong());
        // MLA caches the whole latent on every rank: a rank's token costs what the group's does
        assertEquals(group.get("kv_bytes_per_token").asLong(), r0.get("kv_bytes_per_token").asLong());
        assertTrue(r0.get("max_total_num_tokens").asLong() > 0, r0.toString());
        assertTrue(r0.get("load_seconds").asDouble() > 0, r0.toString());
        assertTrue(r0.get("host_peak_rss_bytes").asLong() != 0, r0.toString());
        assertTrue(r0.get("backend").asText().startsWith("cpu"), r0.toString());
    }

    @Test
    void aRankOutsideTheGroupIsRefused() {
        GenerateCommandTest.Run run = kiln("load", "--device", "cpu", "--model-path", CONFIG, "--load-format", "dummy", "--tp", "2", "--rank", "2");
        assertEquals(2, run.exit());
        assertEquals("kiln load: --rank 2 is not a rank of --tp 2 (0 to 1)", run.err().strip());
    }

    @Test
    void aSplitThatCutsFp8BlocksIsRefusedForARankAloneToo() {
        // at tp 8 the default model's o_proj has 64 columns per rank, half a 128-wide block
        GenerateCommandTest.Run run = kiln("load", "--device", "cpu", "--model-path", CONFIG, "--load-format", "dummy", "--tp", "8", "--rank", "0");
        assertEquals(2, run.exit());
        assertTrue(run.err().startsWith("kiln load: --tp 8: "), run.err());
        assertTrue(run.err().contains("scale blocks"), run.err());
    }
}
