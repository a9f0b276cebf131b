package kiln.bench;

import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.labels.ItemLabelAnchor;
import org.jfree.chart.labels.ItemLabelPosition;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.text.DecimalFormat;
import java.util.List;
import java.util.Map;

/** The three charts of the sweep report, drawn by JFreeChart and encoded as PNG. */
final class SweepCharts {
    static final int WIDTH = 960, HEIGHT = 560;
    /** One colour per configuration (Tableau 10). */
    private static final Color[] PALETTE = {new Color(0x4E79A7), new Color(0xF28E2B), new Color(0xE15759),
            new Color(0x76B7B2), new Color(0x59A14F), new Color(0xEDC948), new Color(0xB07AA1), new Color(0xFF9DA7),
            new Color(0x9C755F), new Color(0xBAB0AC)};

    private SweepCharts() {}

    static {
        System.setProperty("java.awt.headless", "true");
    }

    /** Total token throughput against median E2E latency, one line per configuration, points labelled c=N. */
    static byte[] throughputVsLatency(Map<String, List<SweepReport.Point>> byConfig) {
        XYSeriesCollection data = new XYSeriesCollection();
        for (var e : byConfig.entrySet()) {
            XYSeries s = new XYSeries(e.getKey(), false, true);
            for (SweepReport.Point p : e.getValue()) s.add(p.medianE2eMs(), p.totalThroughput());
            data.addSeries(s);
        }
        JFreeChart chart = ChartFactory.createXYLineChart("Throughput against latency",
                "Median end-to-end latency (ms)", "Total token throughput (tok/s)", data, PlotOrientation.VERTICAL,
                true, false, false);
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, true);
        for (int i = 0; i < data.getSeriesCount(); i++) r.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
        List<List<SweepReport.Point>> series = List.copyOf(byConfig.values());
        r.setDefaultItemLabelGenerator((dataset, row, item) -> "c=" + series.get(row).get(item).concurrency());
        r.setDefaultItemLabelsVisible(true);
        r.setDefaultPositiveItemLabelPosition(new ItemLabelPosition(ItemLabelAnchor.OUTSIDE12, TextAnchor.BOTTOM_CENTER));
        chart.getXYPlot().setRenderer(r);
        return png(chart);
    }

    /** Median (solid) and P99 (dashed) ITL against concurrency on a log2 axis, with the ITL limit drawn. */
    static byte[] itlVsConcurrency(Map<String, List<SweepReport.Point>> byConfig, double limitMs) {
        XYSeriesCollection data = new XYSeriesCollection();
        for (var e : byConfig.entrySet()) {
            XYSeries median = new XYSeries(e.getKey() + " (median)", true, true);
            XYSeries p99 = new XYSeries(e.getKey() + " (P99)", true, true);
            for (SweepReport.Point p : e.getValue()) {
                median.add(p.concurrency(), p.medianItlMs());
                p99.add(p.concurrency(), p.p99ItlMs());
            }
            data.addSeries(median);
            data.addSeries(p99);
        }
        JFreeChart chart = ChartFactory.createXYLineChart("Inter-token latency against concurrency",
                "Max concurrency", "ITL (ms)", data, PlotOrientation.VERTICAL, true, false, false);
        XYPlot plot = chart.getXYPlot();
        LogAxis x = new LogAxis("Max concurrency");
        x.setBase(2);
        x.setTickUnit(new NumberTickUnit(1, new DecimalFormat("0")));
        x.setNumberFormatOverride(new DecimalFormat("0"));
        plot.setDomainAxis(x);
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, true);
        for (int i = 0; i < data.getSeriesCount(); i++) {
            r.setSeriesPaint(i, PALETTE[(i / 2) % PALETTE.length]);
            if (i % 2 == 1) r.setSeriesStroke(i, new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[]{6f, 4f}, 0f));
            else r.setSeriesStroke(i, new BasicStroke(2f));
        }
        plot.setRenderer(r);
        ValueMarker limit = new ValueMarker(limitMs, Color.RED, new BasicStroke(1.5f, BasicStroke.CAP_BUTT,
                BasicStroke.JOIN_MITER, 10f, new float[]{3f, 3f}, 0f));
        limit.setLabel("ITL limit " + PyFormat.repr(limitMs) + " ms");
        limit.setLabelAnchor(org.jfree.chart.ui.RectangleAnchor.TOP_LEFT);
        limit.setLabelTextAnchor(TextAnchor.BOTTOM_LEFT);
        plot.addRangeMarker(limit);
        return png(chart);
    }

    /** Total token throughput per configuration, grouped by concurrency. */
    static byte[] throughputByConcurrency(Map<String, List<SweepReport.Point>> byConfig) {
        DefaultCategoryDataset data = new DefaultCategoryDataset();
        java.util.TreeSet<Integer> all = new java.util.TreeSet<>();
        byConfig.values().forEach(ps -> ps.forEach(p -> all.add(p.concurrency())));
        for (var e : byConfig.entrySet())
            for (int c : all) {
                SweepReport.Point p = e.getValue().stream().filter(q -> q.concurrency() == c).findFirst().orElse(null);
                data.addValue(p == null ? null : p.totalThroughput(), e.getKey(), Integer.toString(c));
            }
        JFreeChart chart = ChartFactory.createBarChart("Throughput per configuration", "Max concurrency",
                "Total token throughput (tok/s)", data, PlotOrientation.VERTICAL, true, false, false);
        var plot = chart.getCategoryPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        var bars = (org.jfree.chart.renderer.category.BarRenderer) plot.getRenderer();
        bars.setBarPainter(new org.jfree.chart.renderer.category.StandardBarPainter());
        bars.setShadowVisible(false);
        for (int i = 0; i < data.getRowCount(); i++) bars.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
        return png(chart);
    }

    private static byte[] png(JFreeChart chart) {
        chart.setBackgroundPaint(Color.WHITE);
        if (chart.getPlot() instanceof XYPlot xy) {
            xy.setBackgroundPaint(Color.WHITE);
            xy.setDomainGridlinePaint(Color.LIGHT_GRAY);
            xy.setRangeGridlinePaint(Color.LIGHT_GRAY);
        }
        try {
            return ChartUtils.encodeAsPNG(chart.createBufferedImage(WIDTH, HEIGHT));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
