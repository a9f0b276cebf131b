package kiln.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import kiln.tokenizer.Tokenizer;
import kiln.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kiln generate --prompt}: the model directory's tokenizer encodes the prompt and decodes the output. */
class GenerateCommandTest {
    record Run(int exit, String out, String err) {}

    static Run kiln(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        var cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        var stdout = System.out;
        var captured = new java.io.ByteArrayOutputStream();
        System.setOut(new java.io.PrintStream(captured, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            int exit = cl.execute(args);
            return new Run(exit, captured.toString(java.nio.charset.StandardCharsets.UTF_8) + out, err.toString());
        } finally {
            System.setOut(stdout);
        }
    }

    @Test
    void promptIsEncodedAndOutputDecodedWithTheModelsTokenizer(@TempDir Path dir) throws Exception {
        // A DeepSeek-V3 model directory with the real tokenizer: the tiny config, widened to DeepSeek's vocabulary.
        Files.copy(Path.of("testdata", "fixtures", "deepseek-v3-tiny", "config.json"), dir.resolve("config.json"));
        Tokenizers.writeBundled(dir);
        String prompt = "The capital of France is";
        Run run = kiln("generate", "--model-path", dir.toString(), "--load-format", "dummy", "--prompt", prompt,
                "--max-new-tokens", "6", "--json", "--json-model-override-args", "{\"vocab_size\": 129280, \"num_hidden_layers\": 2}");
        assertEquals(0, run.exit(), run.err());
        JsonNode r = new ObjectMapper().readTree(run.out().lines().filter(l -> l.startsWith("{")).findFirst().orElseThrow());
        Tokenizer tok = Tokenizers.load(dir);
        int[] promptIds = tok.encode(prompt, true);
        assertEquals(0, promptIds[0]);
        assertEquals(promptIds.length, r.get("prompt_tokens").asInt());
        int[] out = new int[r.get("output_ids").size()];
        for (int i = 0; i < out.length; i++) out[i] = r.get("output_ids").get(i).asInt();
        assertEquals(6, out.length);
        assertEquals(tok.decode(out, true), r.get("text").asText());
    }

    @Test
    void aModelWithoutTokenizerSaysSo() {
        Run run = kiln("generate", "--model-path", Path.of("testdata", "fixtures", "qwen2-tiny").toString(), "--prompt", "hello");
        assertEquals(2, run.exit());
        assertTrue(run.err().contains("has no tokenizer.json"), run.err());
    }

    @Test
    void anFp8KvCacheRunsOnTheCpuForMlaModelsOnly() {
        String v3 = Path.of("testdata", "fixtures", "deepseek-v3-tiny").toString(), qwen = Path.of("testdata", "fixtures", "qwen2-tiny").toString();
        Run cpu = kiln("generate", "--model-path", v3, "--device", "cpu", "--input-ids", "5,6", "--kv-cache-dtype", "fp8_e4m3", "--max-new-tokens", "3");
        assertEquals(0, cpu.exit(), cpu.err());
        assertTrue(cpu.out().contains("output_ids: ["), cpu.out());
        Run gqa = kiln("generate", "--model-path", qwen, "--device", "cpu", "--input-ids", "5,6", "--kv-cache-dtype", "fp8_e4m3");
        assertEquals(2, gqa.exit());
        assertTrue(gqa.err().contains("(qwen2) uses grouped-query attention"), gqa.err());
        Run other = kiln("generate", "--model-path", v3, "--device", "cpu", "--input-ids", "5,6", "--kv-cache-dtype", "fp8_e5m2");
        assertEquals(2, other.exit());
        assertTrue(other.err().contains("--kv-cache-dtype must be auto or fp8_e4m3, not fp8_e5m2"), other.err());
    }

    @Test
    void inputIdsStillWorkWithoutTokenizer() {
        Run run = kiln("generate", "--model-path", Path.of("testdata", "fixtures", "qwen2-tiny").toString(), "--input-ids", "5,6,7",
                "--max-new-tokens", "2");
        assertEquals(0, run.exit(), run.err());
        assertTrue(run.out().contains("output_ids: ["), run.out());
        assertTrue(!run.out().contains("text:"), run.out());
    }

    @Test
    void tensorParallelRanksGenerateWhatOneRankDoes() throws Exception {
        String[] base = {"generate", "--device", "cpu", "--model-path", Path.of("testdata", "fixtures", "llama-tiny").toString(),
                "--input-ids", "5,6,7,8,9", "--max-new-tokens", "8", "--json"};
        JsonNode one = json(kiln(base)), four = json(kiln(append(base, "--tp-size", "4")));
        assertEquals(one.get("output_ids"), four.get("output_ids"));
        assertTrue(four.get("backend").asText().contains("tp rank 0 of 4"), four.toString());
        Run gpu = kiln(append(base, "--tp", "2", "--base-gpu-id", "1"));
        assertEquals(2, gpu.exit());
        assertTrue(gpu.err().contains("--base-gpu-id 1: the CPU backend has no GPUs"), gpu.err());
        Run bench = kiln("engine-bench", "--model-path", "testdata/fixtures/llama-tiny", "--ep", "4");
        assertEquals(2, bench.exit());
        assertTrue(bench.err().contains("--ep-size 4: expert parallelism is not built"), bench.err());
    }

    private static JsonNode json(Run run) throws Exception {
        assertEquals(0, run.exit(), run.err());
        return new ObjectMapper().readTree(run.out().lines().filter(l -> l.startsWith("{")).findFirst().orElseThrow());
    }

    private static String[] append(String[] args, String... more) {
        String[] all = java.util.Arrays.copyOf(args, args.length + more.length);
        System.arraycopy(more, 0, all, args.length, more.length);
        return all;
    }
}
