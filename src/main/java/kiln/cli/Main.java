package kiln.cli;

import kiln.bench.BenchException;
import kiln.config.ConfigException;
import kiln.chat.ChatTemplateException;
import kiln.io.CheckpointException;
import kiln.tokenizer.TokenizerException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.util.ArrayList;
import java.util.List;

/** {@code kiln <command>}: the one entry point (see the README for the commands). */
@Command(name = "kiln", mixinStandardHelpOptions = true, version = "kiln 0.1.0",
        description = "Serving engine for DeepSeek-R1 and its family.",
        subcommands = {GenerateCommand.class, ServeCommand.class, BenchCommand.class, SweepCommand.class,
                BandwidthCommand.class, EngineBenchCommand.class, LoadCommand.class})
public final class Main implements Runnable {
    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs {@code kiln args...}: option prefixes are expanded as argparse does (SGLang's flags are argparse's). */
    public static int execute(String... args) {
        CommandLine cl = commandLine();
        if (args.length > 0 && cl.getSubcommands().get(args[0]) instanceof CommandLine sub) {
            try {
                List<String> rest = ArgparsePrefixes.expand(sub.getCommandSpec(), List.of(args).subList(1, args.length));
                List<String> full = new ArrayList<>(List.of(args[0]));
                full.addAll(rest);
                args = full.toArray(String[]::new);
            } catch (ArgparsePrefixes.AmbiguousOptionException e) {
                sub.getErr().println("kiln " + args[0] + ": error: " + e.getMessage());
                return 2;
            }
        }
        return cl.execute(args);
    }

    /** The command line with Kiln's error handling: bad checkpoints and configs print one clear line. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, line, parseResult) -> {
            if (ex instanceof CheckpointException || ex instanceof ConfigException || ex instanceof IllegalArgumentException
                    || ex instanceof TokenizerException || ex instanceof ChatTemplateException) {
                line.getErr().println("kiln " + line.getCommandName() + ": " + ex.getMessage());
                return 2;
            }
            if (ex instanceof BenchException) {
                line.getErr().println("kiln " + line.getCommandName() + ": " + ex.getMessage());
                return 1;
            }
            throw ex;
        });
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine line = ex.getCommandLine();
            line.getErr().println("kiln " + line.getCommandName() + ": " + ex.getMessage());
            if (ex instanceof CommandLine.UnmatchedArgumentException) {
                List<String> known = line.getCommandSpec().options().stream().map(o -> o.longestName()).sorted().toList();
                line.getErr().println("known flags: " + String.join(" ", known));
            } else {
                line.getErr().println("see: kiln " + line.getCommandName() + " --help");
            }
            return 2;
        });
        return cl;
    }
}
