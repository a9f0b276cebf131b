package kiln.cli;

import kiln.bench.ResultJson;
import kiln.bench.Sweep;
import kiln.bench.SweepReport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code kiln sweep}: {@code kiln bench} over concurrencies (and server configurations), then an HTML report. */
@Command(name = "sweep", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Run kiln bench at each --max-concurrency value, for each --server-args configuration (starting and",
                "stopping `kiln serve <args>` for each) or against the running server; append every run to --output-file",
                "and write an HTML report with charts. Takes every kiln bench flag. See docs/bench.md."})
final class SweepCommand implements Callable<Integer> {
    @Mixin
    BenchFlags flags;

    @Option(names = "--max-concurrency", split = ",", defaultValue = "1,2,4,8,16,32,64,128",
            description = "Concurrencies to run, comma-separated. Default: ${DEFAULT-VALUE}.")
    List<Integer> concurrencies;

    @Option(names = "--server-args", arity = "1..*",
            description = "One quoted string of `kiln serve` flags per server configuration, e.g. \"--chunked-prefill-size 4096\" \"--chunked-prefill-size 16384\".")
    List<String> serverArgs = new ArrayList<>();

    @Option(names = "--prompts-per-concurrency", description = "Send this many prompts per unit of concurrency (c x N) instead of --num-prompts.")
    Integer promptsPerConcurrency;

    @Option(names = "--itl-limit-ms", defaultValue = "50", description = "The ITL limit drawn in the report. Default: ${DEFAULT-VALUE}.")
    double itlLimitMs;

    @Option(names = "--report", description = "HTML report path (default: the output file with .html).")
    Path report;

    @Option(names = "--report-only", description = "Only write the report from the lines already in --output-file.")
    boolean reportOnly;

    @Option(names = "--server-start-timeout-sec", defaultValue = "1800", description = "How long a started server may take to answer /v1/models. Default: ${DEFAULT-VALUE}.")
    int serverStartTimeoutSec;

    @Override
    public Integer call() {
        var bench = flags.toOptions(null);
        if (reportOnly) {
            if (bench.outputFile() == null) throw new IllegalArgumentException("--report-only needs --output-file (the JSONL to chart)");
            Path in = Path.of(bench.outputFile());
            Path html = report != null ? report : Path.of(bench.outputFile().replaceFirst("\\.jsonl?$", "") + ".html");
            SweepReport.write(ResultJson.readLines(in), html, itlLimitMs);
            System.out.println("Report: " + html.toAbsolutePath());
            return 0;
        }
        bench.validate();
        var options = new Sweep.Options(bench, concurrencies, serverArgs, promptsPerConcurrency, itlLimitMs, report, null,
                serverStartTimeoutSec);
        Sweep.Outcome outcome = new Sweep(options, System.out, System.err).run();
        System.out.println("kiln sweep: " + outcome.lines().size() + " runs appended to "
                + bench.resolvedOutputFile(LocalDate.now()) + (outcome.failures().isEmpty() ? "" : ", " + outcome.failures().size() + " failed"));
        return outcome.failures().isEmpty() ? 0 : 1;
    }
}
