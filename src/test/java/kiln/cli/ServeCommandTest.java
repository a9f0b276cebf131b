package kiln.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `kiln serve` flag handling: SGLang's names, clear failures for what Kiln cannot do. */
class ServeCommandTest {
    private record Run(int code, String err) {}

    private static Run run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err, true));
        cl.setOut(new PrintWriter(new StringWriter(), true));
        return new Run(cl.execute(args), err.toString());
    }

    @Test
    void unknownFlagsFailListingTheKnownOnes() {
        Run r = run("serve", "--no-such-flag", "3");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("Unknown option") && r.err().contains("'--no-such-flag'"), r.err());
        assertTrue(r.err().contains("known flags:") && r.err().contains("--model-path") && r.err().contains("--chunked-prefill-size")
                && r.err().contains("--skip-server-warmup"), r.err());
    }

    @Test
    void sglangFlagsThatKilnCannotHonourFailClearly() {
        assertTrue(run("serve", "--tp", "0").err().contains("--tp must be at least 1, not 0"));
        assertTrue(run("serve", "--ep-size", "2").err().contains("--ep-size 2: expert parallelism is not built"));
        assertTrue(run("serve", "--device", "cpu", "--base-gpu-id", "1").err().contains("--base-gpu-id 1: the CPU backend has no GPUs"));
        assertTrue(run("serve", "--device", "tpu").err().contains("--device must be auto, cpu, cuda or cuda:N"));
        assertTrue(run("serve", "--schedule-policy", "lof").err().contains("--schedule-policy must be one of fcfs, lpm"));
        assertTrue(run("serve", "--load-format", "gguf").err().contains("--load-format must be auto or dummy"));
        assertTrue(run("serve", "--model-path", "/no/such/model").err().contains("--model-path /no/such/model: no such file"));
        assertTrue(run("serve", "--mem-fraction-static", "1.5").err().contains("--mem-fraction-static must be in (0, 1)"));
        assertTrue(run("serve", "--reasoning-parser", "qwen3").err().contains("--reasoning-parser must be one of deepseek-r1"));
        assertTrue(run("serve", "--port", "70000").err().contains("--port must be in [0, 65535]"));
        assertTrue(run("serve", "--tool-call-parser", "llama3").err().contains("--tool-call-parser must be one of deepseekv3, deepseekv31"));
        assertTrue(run("serve", "--schedule-low-priority-values-first").err().contains("need --enable-priority-scheduling"));
        assertTrue(run("serve", "--default-priority-value", "3").err().contains("need --enable-priority-scheduling"));
        assertTrue(run("serve", "--enable-priority-scheduling", "--priority-scheduling-preemption-threshold", "-1")
                .err().contains("--priority-scheduling-preemption-threshold must be >= 0"));
        assertTrue(run("serve", "--req-waiting-timeout", "-2").err().contains("--req-waiting-timeout must be a number of seconds >= 0"));
        assertTrue(run("serve", "--decode-log-interval", "0").err().contains("--decode-log-interval must be at least 1, not 0"));
        assertTrue(run("serve", "--model-path", "testdata/fixtures/qwen2-tiny", "--context-length", "999999")
                .err().contains("exceeds the model's max_position_embeddings 131072"));
        assertTrue(run("serve", "--skip-tokenizer-init", "--reasoning-parser", "deepseek-r1").err().contains("--skip-tokenizer-init"));
        Run noTokenizer = run("serve", "--model-path", "testdata/fixtures/qwen2-tiny", "--max-total-tokens", "1024");
        assertEquals(2, noTokenizer.code());
        assertTrue(noTokenizer.err().contains("has no tokenizer.json") && noTokenizer.err().contains("--skip-tokenizer-init"), noTokenizer.err());
    }

    @Test
    void aKvCacheDtypeTheBackendDoesNotStoreIsRefusedNotIgnored() {
        Run e5m2 = run("serve", "--device", "cpu", "--kv-cache-dtype", "fp8_e5m2", "--max-total-tokens", "1024");
        assertEquals(2, e5m2.code());
        assertTrue(e5m2.err().contains("--kv-cache-dtype fp8_e5m2 is not built"), e5m2.err());
        Run gqa = run("serve", "--device", "cpu", "--model-path", "testdata/fixtures/qwen2-tiny", "--skip-tokenizer-init",
                "--kv-cache-dtype", "fp8_e4m3", "--max-total-tokens", "1024");
        assertEquals(2, gqa.code());
        assertTrue(gqa.err().contains("only DeepSeek's MLA latent cache is built in FP8") && gqa.err().contains("(qwen2) uses grouped-query attention"),
                gqa.err());
        Run bf16 = run("serve", "--device", "cpu", "--kv-cache-dtype", "bf16", "--max-total-tokens", "1024");
        assertEquals(2, bf16.code());
        assertTrue(bf16.err().contains("--kv-cache-dtype bf16: this backend keeps the KV cache in float32"), bf16.err());
    }

    @Test
    void aTpThatCannotSplitTheModelFailsNamingTheFlagAndTheTensor() {
        Run heads = run("serve", "--device", "cpu", "--model-path", "testdata/fixtures/qwen2-tiny", "--skip-tokenizer-init",
                "--tp-size", "4", "--max-total-tokens", "1024");
        assertEquals(2, heads.code());
        assertTrue(heads.err().contains("--tp 4: model.layers.0.self_attn.q_proj.weight [192, 192] (split by rows in 6 heads) "
                + "cannot be shared evenly by 4 ranks; --tp must divide 6: 1, 2, 3, 6"), heads.err());
        // the default model's FP8 output projection: 8 heads of 64 values, 64 columns per rank at tp 8, inside a 128-column block
        Run fp8 = run("serve", "--device", "cpu", "--tp", "8", "--skip-tokenizer-init", "--max-total-tokens", "1024");
        assertEquals(2, fp8.code());
        assertTrue(fp8.err().contains("--tp 8: model.layers.0.self_attn.o_proj.weight [256, 512]")
                && fp8.err().contains("tp values that keep whole blocks: 1, 2, 4"), fp8.err());
    }
}
