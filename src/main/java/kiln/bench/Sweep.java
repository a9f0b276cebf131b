package kiln.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import kiln.tokenizer.Tokenizer;

import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code kiln sweep}: {@code kiln bench} at each {@code --max-concurrency} value, for each server configuration.
 * With {@code --server-args} every configuration gets its own {@code kiln serve <args>}, started before its runs
 * and stopped after; without, the runs go to the server already running. Every run's line is appended to the
 * output JSONL with the configuration as its tag, and the HTML report is written from this sweep's lines.
 */
public final class Sweep {
    /** A sweep's settings; {@code serverArgs} empty means "use the running server". */
    public record Options(BenchOptions bench, List<Integer> concurrencies, List<String> serverArgs,
                          Integer promptsPerConcurrency, double itlLimitMs, Path report, Path launcher,
                          int serverStartTimeoutSec) {
        public Options {
            concurrencies = List.copyOf(concurrencies);
            serverArgs = List.copyOf(serverArgs);
            if (concurrencies.isEmpty()) throw new IllegalArgumentException("--max-concurrency needs at least one value");
            for (int c : concurrencies) if (c < 1) throw new IllegalArgumentException("--max-concurrency values must be at least 1, not " + c);
            if (promptsPerConcurrency != null && promptsPerConcurrency < 1)
                throw new IllegalArgumentException("--prompts-per-concurrency must be at least 1");
        }
    }

    /** What a sweep did: its JSONL lines, the report, and the runs that failed (one line each). */
    public record Outcome(List<ObjectNode> lines, Path report, List<String> failures) {}

    private final Options s;
    private final PrintStream out;
    private final PrintStream err;
    private Tokenizer tokenizer;

    public Sweep(Options options, PrintStream out, PrintStream err) {
        this.s = options;
        this.out = out;
        this.err = err;
    }

    public Sweep withTokenizer(Tokenizer t) {
        this.tokenizer = t;
        return this;
    }

    public Outcome run() {
        BenchOptions base = s.bench();
        String file = base.resolvedOutputFile(LocalDate.now());
        List<ObjectNode> lines = new ArrayList<>();
        List<String> failures = new ArrayList<>();
        List<String> configs = s.serverArgs().isEmpty() ? java.util.Collections.singletonList(null) : s.serverArgs();
        for (int k = 0; k < configs.size(); k++) {
            String args = configs.get(k);
            String label = args == null ? base.tag() : base.tag() == null ? args.strip() : base.tag() + ": " + args.strip();
            ServerProcess server = null;
            try {
                if (args != null) server = startServer(args, k, file);
                for (int c : s.concurrencies()) {
                    int prompts = s.promptsPerConcurrency() != null ? s.promptsPerConcurrency() * c : base.numPrompts();
                    BenchOptions run = base.withMaxConcurrency(c).withRun(prompts, label, file);
                    out.println("---- kiln sweep: " + (label == null ? "" : "[" + label + "] ") + "max concurrency " + c
                            + ", " + prompts + " prompts");
                    try {
                        Benchmark.Result r = new Benchmark(run, out, err).withTokenizer(tokenizer).run();
                        tokenizer = r.tokenizer();
                        lines.add(r.line());
                    } catch (BenchException e) {
                        String msg = (label == null ? "" : "[" + label + "] ") + "concurrency " + c + ": " + e.getMessage();
                        err.println("kiln sweep: run failed: " + msg);
                        failures.add(msg);
                    }
                }
            } catch (BenchException e) {
                String msg = "[" + label + "] " + e.getMessage();
                err.println("kiln sweep: configuration failed: " + msg);
                failures.add(msg);
            } finally {
                if (server != null) {
                    out.println("---- kiln sweep: stopping the server of [" + label + "]");
                    server.close();
                }
            }
        }
        Path report = s.report() != null ? s.report() : Path.of(stripExtension(file) + ".html");
        if (!lines.isEmpty()) {
            SweepReport.write(lines, report, s.itlLimitMs());
            out.println("Report: " + report.toAbsolutePath());
        }
        return new Outcome(lines, report, failures);
    }

    private ServerProcess startServer(String args, int index, String file) {
        List<String> argv = new ArrayList<>(ServerProcess.splitArgs(args));
        BenchOptions b = s.bench();
        if (!argv.contains("--port")) {
            int port = b.baseUrl() != null ? URI.create(b.resolvedBaseUrl()).getPort() : b.port() != null ? b.port() : b.backend().defaultPort;
            if (port > 0) argv.addAll(List.of("--port", Integer.toString(port)));
        }
        Path launcher = s.launcher() != null ? s.launcher() : ServerProcess.launcher();
        Path log = Path.of(stripExtension(file) + ".server-" + (index + 1) + ".log");
        out.println("---- kiln sweep: starting " + launcher + " serve " + String.join(" ", argv) + " (log: " + log + ")");
        ServerProcess server = ServerProcess.start(launcher, argv, log);
        try {
            server.awaitReady(new ServerApi(b.resolvedBaseUrl(), Benchmark.headers(b.headers())), s.serverStartTimeoutSec());
        } catch (BenchException e) {
            server.close();
            throw e;
        }
        return server;
    }

    static String stripExtension(String file) {
        int dot = file.lastIndexOf('.');
        int slash = Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\'));
        return dot > slash + 1 ? file.substring(0, dot) : file;
    }
}
