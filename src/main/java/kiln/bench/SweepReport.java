package kiln.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The HTML report of a sweep, from its JSONL lines: the three charts (embedded as PNG, and also written as files
 * into {@code <report>_charts/}), the highest concurrency whose ITL stays under the limit per configuration, and
 * a table of every run. Lines are grouped by their tag (the configuration); a later line for the same
 * configuration and concurrency replaces an earlier one.
 */
public final class SweepReport {
    /** One run as the report needs it. */
    public record Point(int concurrency, double totalThroughput, double outputThroughput, double requestThroughput,
                        double medianE2eMs, double medianTtftMs, double medianItlMs, double p99ItlMs, int completed,
                        double durationS) {}

    private SweepReport() {}

    /** Runs grouped by configuration, each sorted by concurrency; lines without max_concurrency are left out. */
    public static Map<String, List<Point>> points(List<ObjectNode> lines) {
        Map<String, Map<Integer, Point>> grouped = new LinkedHashMap<>();
        for (ObjectNode l : lines) {
            JsonNode c = l.get("max_concurrency");
            if (c == null || !c.canConvertToInt()) continue;
            String tag = configuration(l.path("tag").isTextual() ? l.get("tag").asText() : "default", c.asInt());
            grouped.computeIfAbsent(tag, k -> new LinkedHashMap<>()).put(c.asInt(), new Point(c.asInt(),
                    num(l, "total_throughput"), num(l, "output_throughput"), num(l, "request_throughput"),
                    num(l, "median_e2e_latency_ms"), num(l, "median_ttft_ms"), num(l, "median_itl_ms"),
                    num(l, "p99_itl_ms"), l.path("completed").asInt(), num(l, "duration")));
        }
        Map<String, List<Point>> out = new LinkedHashMap<>();
        grouped.forEach((tag, byC) -> out.put(tag, byC.values().stream().sorted(Comparator.comparingInt(Point::concurrency)).toList()));
        return out;
    }

    /**
     * The server configuration a run belongs to: its tag, less a trailing mark of the run's own concurrency
     * ("c16", "c=16", "concurrency 16") that scripts add to tell runs apart, so that runs of one configuration
     * tagged per run still make one curve.
     */
    static String configuration(String tag, int concurrency) {
        Matcher m = CONCURRENCY_MARK.matcher(tag);
        if (!m.find() || Integer.parseInt(m.group(1)) != concurrency) return tag;
        String rest = tag.substring(0, m.start());
        return rest.isEmpty() ? "default" : rest;
    }

    private static final Pattern CONCURRENCY_MARK = Pattern.compile("(?i)(?:^|[\\s,;:/_-]+)\\(?(?:c=?|conc(?:urrency)?[\\s=]*)(\\d+)\\)?$");

    /** The highest concurrency whose {@code itl} stays strictly under {@code limitMs}, or null. */
    public static Integer highestUnder(List<Point> points, double limitMs, boolean p99) {
        Integer best = null;
        for (Point p : points) if ((p99 ? p.p99ItlMs() : p.medianItlMs()) < limitMs) best = p.concurrency();
        return best;
    }

    public static void write(List<ObjectNode> lines, Path html, double itlLimitMs) {
        Map<String, List<Point>> byConfig = points(lines);
        if (byConfig.isEmpty()) throw new BenchException("no run with a max_concurrency to chart (the report needs kiln sweep's lines)");
        String stem = Sweep.stripExtension(html.getFileName().toString());
        Path chartDir = html.toAbsolutePath().getParent().resolve(stem + "_charts");
        Map<String, byte[]> charts = new LinkedHashMap<>();
        charts.put("throughput_vs_latency.png", SweepCharts.throughputVsLatency(byConfig));
        charts.put("itl_vs_concurrency.png", SweepCharts.itlVsConcurrency(byConfig, itlLimitMs));
        charts.put("throughput_by_concurrency.png", SweepCharts.throughputByConcurrency(byConfig));
        try {
            Files.createDirectories(chartDir);
            for (var e : charts.entrySet()) Files.write(chartDir.resolve(e.getKey()), e.getValue());
            Files.writeString(html, html(lines.getFirst(), byConfig, charts, itlLimitMs, chartDir.getFileName().toString()),
                    StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new BenchException("cannot write the report " + html + ": " + e.getMessage(), e);
        }
    }

    private static String html(ObjectNode first, Map<String, List<Point>> byConfig, Map<String, byte[]> charts,
                               double limit, String chartDir) {
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>kiln sweep report</title>\n")
                .append("<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}")
                .append("td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}td.l,th.l{text-align:left}")
                .append("img{max-width:100%;border:1px solid #ddd}</style>\n</head>\n<body>\n")
                .append("<h1>kiln sweep report</h1>\n<p>")
                .append(esc("Backend " + first.path("backend").asText("?") + ", dataset " + first.path("dataset_name").asText("?")
                        + ", random input/output " + first.path("random_input_len").asText("?") + "/" + first.path("random_output_len").asText("?")
                        + " (range ratio " + first.path("random_range_ratio").asText("?") + "), request rate "
                        + first.path("request_rate").asText("?") + ". Written "
                        + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm")) + "."))
                .append("</p>\n");
        h.append("<h2>Highest concurrency under the ITL limit (").append(esc(PyFormat.repr(limit))).append(" ms)</h2>\n")
                .append("<table id=\"itl-limit\"><tr><th class=\"l\">configuration</th><th>by median ITL</th><th>by P99 ITL</th></tr>\n");
        byConfig.forEach((tag, ps) -> h.append("<tr><td class=\"l\">").append(esc(tag)).append("</td><td>")
                .append(orNone(highestUnder(ps, limit, false))).append("</td><td>")
                .append(orNone(highestUnder(ps, limit, true))).append("</td></tr>\n"));
        h.append("</table>\n");
        String[][] captions = {
                {"throughput_vs_latency.png", "Total token throughput against median end-to-end latency (points: max concurrency)"},
                {"itl_vs_concurrency.png", "Median (solid) and P99 (dashed) inter-token latency against max concurrency"},
                {"throughput_by_concurrency.png", "Total token throughput per configuration at each concurrency"}};
        for (String[] c : captions) {
            h.append("<h2>").append(esc(c[1])).append("</h2>\n<img alt=\"").append(esc(c[1])).append("\" src=\"data:image/png;base64,")
                    .append(Base64.getEncoder().encodeToString(charts.get(c[0]))).append("\">\n<p><a href=\"")
                    .append(esc(chartDir + "/" + c[0])).append("\">").append(esc(c[0])).append("</a></p>\n");
        }
        h.append("<h2>Runs</h2>\n<table id=\"runs\"><tr><th class=\"l\">configuration</th><th>max concurrency</th><th>completed</th>")
                .append("<th>duration (s)</th><th>req/s</th><th>output tok/s</th><th>total tok/s</th><th>median E2E (ms)</th>")
                .append("<th>median TTFT (ms)</th><th>median ITL (ms)</th><th>P99 ITL (ms)</th></tr>\n");
        byConfig.forEach((tag, ps) -> {
            for (Point p : ps) {
                List<String> cells = new ArrayList<>(List.of(Integer.toString(p.concurrency()), Integer.toString(p.completed())));
                for (double v : new double[]{p.durationS(), p.requestThroughput(), p.outputThroughput(), p.totalThroughput(),
                        p.medianE2eMs(), p.medianTtftMs(), p.medianItlMs(), p.p99ItlMs()}) cells.add(PyFormat.fixed2(v));
                h.append("<tr><td class=\"l\">").append(esc(tag)).append("</td>");
                cells.forEach(v -> h.append("<td>").append(v).append("</td>"));
                h.append("</tr>\n");
            }
        });
        h.append("</table>\n</body>\n</html>\n");
        return h.toString();
    }

    private static String orNone(Integer c) {
        return c == null ? "none" : c.toString();
    }

    private static double num(ObjectNode l, String key) {
        JsonNode n = l.get(key);
        return n != null && n.isNumber() ? n.asDouble() : Double.NaN;
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
