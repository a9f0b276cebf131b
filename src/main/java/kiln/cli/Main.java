package kiln.cli;

import kiln.config.ConfigException;
import kiln.chat.ChatTemplateException;
import kiln.io.CheckpointException;
import kiln.tokenizer.TokenizerException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code kiln <command>}: the one entry point (see the README for the commands). */
@Command(name = "kiln", mixinStandardHelpOptions = true, version = "kiln 0.1.0",
        description = "Serving engine for DeepSeek-R1 and its family.",
        subcommands = {GenerateCommand.class})
public final class Main implements Runnable {
    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
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
            throw ex;
        });
        return cl;
    }
}
