package kiln.cli;

import kiln.bench.BackendKind;
import kiln.bench.BenchOptions;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** SGLang's command lines, abbreviations included, parse as argparse would parse them. */
class ArgparsePrefixesTest {
    private static BenchCommand parseBench(String... args) {
        CommandLine bench = new CommandLine(new BenchCommand());
        List<String> expanded = ArgparsePrefixes.expand(bench.getCommandSpec(), List.of(args));
        bench.parseArgs(expanded.toArray(String[]::new));
        return bench.getCommand();
    }

    private static SweepCommand parseSweep(String... args) {
        CommandLine sweep = new CommandLine(new SweepCommand());
        sweep.parseArgs(ArgparsePrefixes.expand(sweep.getCommandSpec(), List.of(args)).toArray(String[]::new));
        return sweep.getCommand();
    }

    @Test
    void sglangDocsCommandsParse() {
        // python3 -m sglang.bench_serving --backend sglang --dataset-name random --num-prompts 3000 --random-input 1024 --random-output 1024 --random-range-ratio 0.5
        BenchCommand c = parseBench("--backend", "sglang", "--dataset-name", "random", "--num-prompts", "3000",
                "--random-input", "1024", "--random-output", "1024", "--random-range-ratio", "0.5");
        BenchOptions o = c.flags.toOptions(c.maxConcurrency);
        assertEquals(BackendKind.SGLANG, o.backend());
        assertEquals("random", o.datasetName());
        assertEquals(3000, o.numPrompts());
        assertEquals(1024, o.randomInputLen());
        assertEquals(1024, o.randomOutputLen());
        assertEquals(0.5, o.randomRangeRatio());
        // python3 -m sglang.bench_serving --backend sglang --num-prompt 10
        assertEquals(10, parseBench("--num-prompt", "10").flags.numPrompts);
        assertEquals(7, parseBench("--num-prom=7").flags.numPrompts);
    }

    @Test
    void defaultsAreSglangs() {
        BenchCommand c = parseBench();
        BenchOptions o = c.flags.toOptions(c.maxConcurrency);
        BenchOptions d = BenchOptions.defaults();
        assertEquals(d, o);
        assertEquals(Double.POSITIVE_INFINITY, o.requestRate());
        assertNull(o.maxConcurrency());
        assertEquals(1, o.seed());
        assertEquals(1000, o.numPrompts());
        assertEquals(60, o.readyCheckTimeoutSec());
        assertEquals(2.5, parseBench("--request-rate", "2.5").flags.requestRate);
        assertEquals(Double.POSITIVE_INFINITY, parseBench("--request-rate", "inf").flags.requestRate);
    }

    @Test
    void ambiguousPrefixListsEveryCandidateInOrder() {
        CommandLine bench = Main.commandLine().getSubcommands().get("bench");
        var e = assertThrows(ArgparsePrefixes.AmbiguousOptionException.class,
                () -> ArgparsePrefixes.expand(bench.getCommandSpec(), List.of("--random", "5")));
        assertEquals("ambiguous option: --random could match --random-input-len, --random-output-len, --random-range-ratio", e.getMessage());
        assertEquals(2, Main.execute("bench", "--disable", "x"));
    }

    @Test
    void exactNameWinsOverLongerOnes() {
        SweepCommand s = parseSweep("--report", "r.html", "--max-concurrency", "1,4,16");
        assertEquals("r.html", s.report.toString());
        assertFalse(s.reportOnly);
        assertEquals(List.of(1, 4, 16), s.concurrencies);
        assertTrue(parseSweep("--report-o").reportOnly);
    }

    @Test
    void partWiseAbbreviationsAreRejectedAsArgparseDoes() {
        assertThrows(CommandLine.UnmatchedArgumentException.class, () -> parseBench("--ra-in", "5"));
    }

    @Test
    void valuesAreNeverExpanded() {
        BenchCommand c = parseBench("--header", "A=1", "B=2", "--num-p", "3", "--tag", "-x");
        assertEquals(List.of("A=1", "B=2"), c.flags.headers);
        assertEquals(3, c.flags.numPrompts);
        assertEquals("-x", c.flags.tag);
        SweepCommand s = parseSweep("--server-args", "--chunked-prefill-size 4096", "--chunked-prefill-size 16384", "--itl", "40");
        assertEquals(List.of("--chunked-prefill-size 4096", "--chunked-prefill-size 16384"), s.serverArgs);
        assertEquals(40.0, s.itlLimitMs);
        assertEquals("-5", parseBench("--tag", "-5").flags.tag);
    }

    @Test
    void badValuesNameTheFlag() {
        var e = assertThrows(CommandLine.ParameterException.class, () -> parseBench("--backend", "trt"));
        assertTrue(e.getMessage().contains("--backend: invalid choice 'trt'"), e.getMessage());
        BenchCommand c = parseBench("--random-range-ratio", "1.5");
        var bad = assertThrows(IllegalArgumentException.class, () -> c.flags.toOptions(null).validate());
        assertTrue(bad.getMessage().startsWith("--random-range-ratio"), bad.getMessage());
    }
}
