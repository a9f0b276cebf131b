package kiln;

import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;

/** SGLang-style log lines on stderr: "[2026-11-28 10:00:00] message". */
public final class Log {
    private Log() {}

    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss");
    private static volatile boolean quiet = KilnProperty.QUIET.flag();

    public static void quiet(boolean q) {
        quiet = q;
    }

    public static void info(String fmt, Object... args) {
        if (!quiet) print("", fmt, args);
    }

    public static void warn(String fmt, Object... args) {
        print("WARNING ", fmt, args);
    }

    private static void print(String level, String fmt, Object... args) {
        String msg = args.length == 0 ? fmt : String.format(fmt, args);
        System.err.println("[" + LocalDateTime.now().format(TIME) + "] " + level + msg);
    }
}
