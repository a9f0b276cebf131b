package kiln.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A {@code kiln serve} started by {@code kiln sweep} for one server configuration, its output going to a log
 * file. Closing it stops the server (SIGTERM, then SIGKILL after 30 s) and everything it started.
 */
public final class ServerProcess implements AutoCloseable {
    private final Process process;
    private final Path log;
    private final List<String> command;

    private ServerProcess(Process process, Path log, List<String> command) {
        this.process = process;
        this.log = log;
        this.command = command;
    }

    /**
     * The {@code kiln} launcher: {@code <kiln.home>/kiln} when the {@code kiln.home} system property is set (the
     * launcher script sets it), else {@code ./kiln} in the working directory.
     */
    public static Path launcher() {
        String home = kiln.KilnProperty.HOME.valueOrNull();
        Path p = home != null && !home.isBlank() ? Path.of(home, "kiln") : Path.of("kiln").toAbsolutePath();
        if (!Files.isExecutable(p))
            throw new BenchException("--server-args needs the kiln launcher to start `kiln serve`, and " + p
                    + " is not an executable file (run kiln from its checkout, or set -Dkiln.home)");
        return p;
    }

    /** Starts {@code launcher serve args...}, output appended to {@code log}. */
    public static ServerProcess start(Path launcher, List<String> args, Path log) {
        List<String> command = new ArrayList<>(List.of(launcher.toString(), "serve"));
        command.addAll(args);
        try {
            if (log.toAbsolutePath().getParent() != null) Files.createDirectories(log.toAbsolutePath().getParent());
            Files.writeString(log, "$ " + String.join(" ", command) + "\n", StandardCharsets.UTF_8);
            Process p = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
            return new ServerProcess(p, log, command);
        } catch (IOException e) {
            throw new BenchException("cannot start " + String.join(" ", command) + ": " + e.getMessage(), e);
        }
    }

    /**
     * Waits until the server is ready: {@code GET /health} answers 200 (Kiln answers 503 there until its
     * warmup request is done, while {@code /v1/models} already answers), or {@code /v1/models} does on a server
     * without {@code /health}. Fails early, with the log's tail, if the process exits.
     */
    public void awaitReady(ServerApi api, int timeoutSec) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSec);
        while (true) {
            if (!process.isAlive())
                throw new BenchException("`" + String.join(" ", command) + "` exited with code " + process.exitValue()
                        + " before it was ready; last lines of " + log + ":\n" + tail(20));
            int health = api.status("/health");
            if (health == 200 || (health == 404 && api.getJson("/v1/models") != null)) return;
            if (System.nanoTime() > deadline)
                throw new BenchException("`" + String.join(" ", command) + "` was not ready (GET /health) within "
                        + timeoutSec + " s (--server-start-timeout-sec); see " + log);
            try {
                Thread.sleep(500);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new BenchException("interrupted while waiting for the server");
            }
        }
    }

    public Path log() {
        return log;
    }

    private String tail(int lines) {
        try {
            List<String> all = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(log unreadable: " + e.getMessage() + ")";
        }
    }

    @Override
    public void close() {
        List<ProcessHandle> children = process.descendants().toList();
        process.destroy();
        children.forEach(ProcessHandle::destroy);
        try {
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        children.stream().filter(ProcessHandle::isAlive).forEach(ProcessHandle::destroyForcibly);
    }

    /** Splits "--a 1 --b 'x y'" as a shell would (quotes group, no expansion). */
    public static List<String> splitArgs(String s) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean inWord = false;
        char quote = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (quote != 0) {
                if (c == quote) quote = 0;
                else cur.append(c);
            } else if (c == '\'' || c == '"') {
                quote = c;
                inWord = true;
            } else if (Character.isWhitespace(c)) {
                if (inWord) out.add(cur.toString());
                cur.setLength(0);
                inWord = false;
            } else {
                cur.append(c);
                inWord = true;
            }
        }
        if (quote != 0) throw new IllegalArgumentException("--server-args: unclosed quote in '" + s + "'");
        if (inWord) out.add(cur.toString());
        return out;
    }
}
