package kiln.server;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** A {@code kiln serve} process, ready, with its log collected as it comes. */
record ServeProcess(Process process, String url, List<String> log) implements AutoCloseable {
    static ServeProcess start(String... flags) throws IOException {
        return start(new ProcessBuilder(command(flags)));
    }

    /** The command line of {@code kiln serve} on a free port, without warmup, with these flags. */
    static List<String> command(String... flags) {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), "kiln.cli.Main", "serve", "--port", "0", "--skip-server-warmup"));
        cmd.addAll(List.of(flags));
        return cmd;
    }

    /** Starts a process that runs {@link #command} (e.g. through a shell that sets a limit first) and waits until it is ready. */
    static ServeProcess start(ProcessBuilder builder) throws IOException {
        Process p = builder.redirectErrorStream(true).start();
        List<String> log = new ArrayList<>();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String url = null, line;
        Pattern listening = Pattern.compile("listening on (http://\\S+)");
        while ((line = out.readLine()) != null) {
            log.add(line);
            Matcher m = listening.matcher(line);
            if (m.find()) url = m.group(1);
            if (line.contains("The server is fired up and ready to roll!")) break;
        }
        if (url == null) {
            p.destroyForcibly();
            throw new AssertionError("no listening line in " + log);
        }
        // the rest of the log, read so that the process never blocks on a full pipe
        Thread.ofPlatform().daemon().start(() -> {
            try {
                String l;
                while ((l = out.readLine()) != null) synchronized (log) { log.add(l); }
            } catch (IOException e) {
                // the process ended
            }
        });
        return new ServeProcess(p, url, log);
    }

    /** SIGTERM (Process.destroy would also close our end of its output). */
    void sigterm() {
        process.toHandle().destroy();
    }

    /** The exit status, once the process has ended on its own within 30 s. */
    int exitStatus() throws InterruptedException {
        assertTrue(process.waitFor(30, TimeUnit.SECONDS), "the process exits after draining\n" + logText());
        return process.exitValue();
    }

    String logText() {
        synchronized (log) {
            return String.join("\n", log);
        }
    }

    @Override
    public void close() {
        process.destroyForcibly();
        try {
            process.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
