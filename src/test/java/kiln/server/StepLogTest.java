package kiln.server;

import kiln.model.Fixture;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The scheduler's progress lines in a real {@code kiln serve} process's log, worded as SGLang's. */
class StepLogTest {
    private static final Pattern PREFILL = Pattern.compile("Prefill batch\\. #new-seq: (\\d+), #new-token: (\\d+), #cached-token: (\\d+), "
            + "token usage: (\\d\\.\\d\\d), #running-req: (\\d+), #queue-req: (\\d+), $");
    private static final Pattern DECODE = Pattern.compile("Decode batch\\. #running-req: (\\d+), #token: (\\d+), token usage: (\\d\\.\\d\\d), "
            + "gen throughput \\(token/s\\): (\\d+\\.\\d\\d), #queue-req: (\\d+), $");

    @Test
    void prefillBatchesAndEveryNthDecodeStepAreLogged() throws Exception {
        try (ServeProcess served = ServeProcess.start("--model-path", Fixture.ROOT.resolve("qwen2-tiny").toString(), "--skip-tokenizer-init",
                "--max-total-tokens", "1000", "--decode-log-interval", "4");
             HttpClient client = HttpClient.newHttpClient()) {
            String body = "{\"input_ids\": [5, 6, 7, 8, 9, 10, 11, 12], \"sampling_params\": {\"max_new_tokens\": 12, \"temperature\": 0, "
                    + "\"ignore_eos\": true}}";
            for (int i = 0; i < 2; i++) {  // the second time, the prompt is in the radix cache
                HttpResponse<String> res = client.send(HttpRequest.newBuilder(URI.create(served.url() + "/generate"))
                        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(200, res.statusCode(), res.body());
            }
            List<Matcher> prefills = matches(served, PREFILL), decodes = matches(served, DECODE);
            assertEquals(2, prefills.size(), served.logText());
            Matcher first = prefills.get(0), second = prefills.get(1);
            assertEquals(List.of("1", "8", "0", "0", "0"), List.of(first.group(1), first.group(2), first.group(3), first.group(5), first.group(6)));
            // all but the last prompt token come from the cache: one new token, seven cached
            assertEquals(List.of("1", "1", "7"), List.of(second.group(1), second.group(2), second.group(3)));
            // 11 decode steps per request (the first token comes from the prefill): lines after steps 4 and 8, then 12, 16, 20
            assertEquals(5, decodes.size(), served.logText());
            for (Matcher d : decodes) {
                assertEquals("1", d.group(1), d.group());
                int tokens = Integer.parseInt(d.group(2));
                assertTrue(tokens > 8 && tokens <= 40, d.group());
                assertEquals(String.format(java.util.Locale.ROOT, "%.2f", tokens / 1000.0), d.group(3), d.group());
                assertTrue(Double.parseDouble(d.group(4)) > 0, d.group());
                assertEquals("0", d.group(5), d.group());
            }
        }
    }

    private static List<Matcher> matches(ServeProcess served, Pattern p) {
        synchronized (served.log()) {
            return served.log().stream().map(l -> {
                int at = l.indexOf("] ");
                return p.matcher(at < 0 ? l : l.substring(at + 2));
            }).filter(Matcher::find).toList();
        }
    }
}
