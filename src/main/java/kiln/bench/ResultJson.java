package kiln.bench;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.SerializableString;
import com.fasterxml.jackson.core.io.CharacterEscapes;
import com.fasterxml.jackson.core.io.SerializedString;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.core.util.MinimalPrettyPrinter;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * The JSONL line of one run, keys in sglang.bench_serving's order, written as Python's {@code json.dumps} writes
 * it (", " and ": " separators, non-ASCII escaped, bare {@code Infinity}/{@code NaN} for non-finite floats).
 */
public final class ResultJson {
    private ResultJson() {}

    /** Reads JSONL written by Kiln or SGLang (which may hold bare Infinity and NaN). */
    public static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .disable(JsonWriteFeature.WRITE_NAN_AS_STRINGS)
            .build();

    public static ObjectNode line(BenchOptions o, JsonNode serverInfo, double durationS, Metrics m, Double acceptLength,
                                  List<RequestOutput> outputs) {
        ObjectNode r = MAPPER.createObjectNode();
        r.put("tag", o.tag());
        r.put("backend", o.backend().cliName);
        r.put("dataset_name", o.datasetName());
        r.put("request_rate", o.requestRate());
        r.put("max_concurrency", o.maxConcurrency());
        r.put("sharegpt_output_len", o.sharegptOutputLen());
        r.put("random_input_len", o.randomInputLen());
        r.put("random_output_len", o.randomOutputLen());
        r.put("random_range_ratio", o.randomRangeRatio());
        r.set("server_info", serverInfo);
        r.put("duration", durationS);
        r.put("completed", m.completed());
        r.put("total_input_tokens", m.totalInput());
        r.put("total_input_text_tokens", m.totalInputText());
        r.put("total_input_vision_tokens", m.totalInputVision());
        r.put("total_output_tokens", m.totalOutput());
        r.put("total_output_tokens_retokenized", m.totalOutputRetokenized());
        r.put("request_throughput", m.requestThroughput());
        r.put("input_throughput", m.inputThroughput());
        r.put("output_throughput", m.outputThroughput());
        r.put("total_throughput", m.totalThroughput());
        r.put("mean_e2e_latency_ms", m.meanE2eMs());
        r.put("median_e2e_latency_ms", m.medianE2eMs());
        r.put("std_e2e_latency_ms", m.stdE2eMs());
        r.put("p90_e2e_latency_ms", m.p90E2eMs());
        r.put("p99_e2e_latency_ms", m.p99E2eMs());
        r.put("mean_ttft_ms", m.meanTtftMs());
        r.put("median_ttft_ms", m.medianTtftMs());
        r.put("std_ttft_ms", m.stdTtftMs());
        r.put("p99_ttft_ms", m.p99TtftMs());
        r.put("mean_tpot_ms", m.meanTpotMs());
        r.put("median_tpot_ms", m.medianTpotMs());
        r.put("std_tpot_ms", m.stdTpotMs());
        r.put("p99_tpot_ms", m.p99TpotMs());
        r.put("mean_itl_ms", m.meanItlMs());
        r.put("median_itl_ms", m.medianItlMs());
        r.put("std_itl_ms", m.stdItlMs());
        r.put("p95_itl_ms", m.p95ItlMs());
        r.put("p99_itl_ms", m.p99ItlMs());
        r.put("concurrency", m.concurrency());
        r.put("accept_length", acceptLength);
        r.put("max_output_tokens_per_s", m.maxOutputTokensPerS());
        r.put("max_concurrent_requests", m.maxConcurrentRequests());
        if (o.outputDetails()) addDetails(r, m, outputs);
        return r;
    }

    private static void addDetails(ObjectNode r, Metrics m, List<RequestOutput> outputs) {
        ArrayNode inputLens = r.putArray("input_lens"), outputLens = r.putArray("output_lens");
        ArrayNode ttfts = r.putArray("ttfts"), itls = r.putArray("itls");
        ArrayNode texts = r.putArray("generated_texts"), errors = r.putArray("errors");
        for (int i = 0; i < outputs.size(); i++) {
            RequestOutput o = outputs.get(i);
            inputLens.add(o.promptLen());
            outputLens.add(m.outputLens()[i]);
            ttfts.add(o.ttft());
            ArrayNode gaps = itls.addArray();
            for (double g : o.itl()) gaps.add(g);
            texts.add(o.generatedText());
            errors.add(o.error());
        }
    }

    /** {@code json.dumps(line)}: one line, Python's separators. */
    public static String toPythonJson(JsonNode node) {
        try {
            return MAPPER.writer(new PythonSeparators()).with(new PythonEscapes()).writeValueAsString(node);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Appends one line to {@code file} (created with its folders when missing), as SGLang opens it with "a". */
    public static void append(Path file, JsonNode node) {
        try {
            if (file.toAbsolutePath().getParent() != null) Files.createDirectories(file.toAbsolutePath().getParent());
            Files.writeString(file, toPythonJson(node) + "\n", StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new BenchException("cannot write --output-file " + file + ": " + e.getMessage(), e);
        }
    }

    /** Every line of a JSONL file as a JSON object (blank lines skipped); errors name the file and line. */
    public static List<ObjectNode> readLines(Path file) {
        try {
            List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            List<ObjectNode> out = new java.util.ArrayList<>();
            for (int i = 0; i < lines.size(); i++) {
                if (lines.get(i).isBlank()) continue;
                JsonNode n;
                try {
                    n = MAPPER.readTree(lines.get(i));
                } catch (IOException e) {
                    throw new BenchException(file + " line " + (i + 1) + " is not JSON: " + e.getMessage().lines().findFirst().orElse(""));
                }
                if (!(n instanceof ObjectNode obj)) throw new BenchException(file + " line " + (i + 1) + " is not a JSON object");
                out.add(obj);
            }
            return out;
        } catch (IOException e) {
            throw new BenchException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** json.dumps escapes every non-ASCII UTF-16 unit as a lowercase \\uXXXX. */
    private static final class PythonEscapes extends CharacterEscapes {
        private final int[] ascii = standardAsciiEscapesForJSON();

        @Override
        public int[] getEscapeCodesForAscii() {
            return ascii;
        }

        @Override
        public SerializableString getEscapeSequence(int ch) {
            return new SerializedString(String.format("\\u%04x", ch));
        }
    }

    private static final class PythonSeparators extends MinimalPrettyPrinter {
        @Override
        public void writeObjectFieldValueSeparator(JsonGenerator g) throws IOException {
            g.writeRaw(": ");
        }

        @Override
        public void writeObjectEntrySeparator(JsonGenerator g) throws IOException {
            g.writeRaw(", ");
        }

        @Override
        public void writeArrayValueSeparator(JsonGenerator g) throws IOException {
            g.writeRaw(", ");
        }
    }
}
