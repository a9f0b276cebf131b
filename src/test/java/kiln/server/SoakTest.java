package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import kiln.engine.Engine;
import kiln.engine.EngineStats;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Load and faults together on the default model, with tight limits (8 running, 32 queued, 4096 KV tokens) and more
 * clients than both: every route, streamed and not, random prompt and output lengths, streams dropped half-way,
 * aborts by rid, duplicate rids, idle and slow connections. Every answer is checked to be its client's own (its rid,
 * its prompt's length, its token count, and for the probe prompts the exact greedy tokens it gets alone); only
 * 200s, the 400s a duplicate rid earns and 503s with Retry-After may come back. Afterwards the queue and the running
 * set are empty, every KV slot is accounted for, and the heap after GC is where it was.
 *
 * <p>CI runs it for {@code soak.seconds} (default 40); scripts/soak.sh runs it longer and keeps its report.
 */
class SoakTest {
    private static final int RUNNING = 8, QUEUED = 32, CLIENTS = 48;
    private static final int PROBES = 4;

    private final Map<String, AtomicInteger> statuses = new ConcurrentSkipListMap<>();
    private final ConcurrentLinkedQueue<String> problems = new ConcurrentLinkedQueue<>();
    private final AtomicLong requests = new AtomicLong();
    private final AtomicInteger maxQueued = new AtomicInteger();
    private final Map<Integer, JsonNode> probeOutputs = new ConcurrentHashMap<>();
    private LiveServer live;
    private HttpClient client;
    private URI base;

    @Test
    void loadAndFaultsLeaveTheServerWhole() throws Exception {
        long seconds = Long.getLong("soak.seconds", 40);
        live = new LiveServer("--max-running-requests", String.valueOf(RUNNING), "--max-queued-requests", String.valueOf(QUEUED),
                "--max-total-tokens", "4096", "--timeout-keep-alive", "3", "--enable-metrics");
        client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
        base = URI.create(live.url);
        try {
            Engine engine = live.server.engine();
            for (int p = 0; p < PROBES; p++) probeOutputs.put(p, generate(probe(p), 24, null).json().get("output_ids"));
            long heapBefore = heapAfterGc();
            long t0 = System.nanoTime(), deadline = t0 + seconds * 1_000_000_000L;
            Thread monitor = Thread.ofPlatform().daemon().start(() -> {
                while (!Thread.currentThread().isInterrupted()) {
                    maxQueued.accumulateAndGet(engine.queuedSequences(), Math::max);
                    try {
                        Thread.sleep(50);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
            List<Thread> workers = new ArrayList<>();
            for (int w = 0; w < CLIENTS; w++) {
                int worker = w;
                workers.add(Thread.ofVirtual().start(() -> work(worker, deadline)));
            }
            for (Thread t : workers) t.join();
            double elapsed = (System.nanoTime() - t0) / 1e9;
            monitor.interrupt();

            long settle = System.nanoTime() + 30_000_000_000L;
            EngineStats s;
            while (((s = engine.stats()).runningRequests() > 0 || s.queuedRequests() > 0 || s.kvUsedTokens() > 0
                    || engine.queuedSequences() > 0) && System.nanoTime() < settle) {
                Thread.sleep(50);
            }
            engine.checkIntegrity();
            long heapAfter = heapAfterGc();
            String report = report(seconds, elapsed, heapBefore, heapAfter, s);
            System.out.println(report);
            String file = System.getProperty("soak.report");
            if (file != null) Files.writeString(Path.of(file), report);

            assertTrue(problems.isEmpty(), problems.size() + " problems, the first: " + String.join("\n", problems.stream().limit(10).toList()));
            assertEquals(0, s.runningRequests(), "running after the load");
            assertEquals(0, s.queuedRequests(), "queued after the load");
            assertEquals(0, engine.queuedSequences(), "queue places still taken");
            assertEquals(0, s.kvUsedTokens(), "KV slots still in use");
            assertTrue(maxQueued.get() <= QUEUED, "the queue reached " + maxQueued.get());
            assertTrue(heapAfter - heapBefore < 64L << 20, "the heap grew from " + heapBefore + " to " + heapAfter + " bytes");
            assertTrue(count("200") > 0 && count("503") > 0, "the load both ran and overflowed the queue: " + statuses);
            assertEquals(200, live.get("/health").status());
        } finally {
            live.close();
            client.close();
        }
    }

    private int count(String status) {
        AtomicInteger c = statuses.get(status);
        return c == null ? 0 : c.get();
    }

    private String report(long seconds, double elapsed, long heapBefore, long heapAfter, EngineStats s) {
        return String.format("soak: %d s asked, %.1f s run, %d requests (%.1f/s), statuses %s, max queued sequences %d (limit %d), "
                        + "heap after GC %.1f MB before, %.1f MB after, finished by reason %s, retracted %d, problems %d",
                seconds, elapsed, requests.get(), requests.get() / elapsed, statuses, maxQueued.get(), QUEUED,
                heapBefore / 1e6, heapAfter / 1e6, s.finishedByReason(), s.retractedTotal(), problems.size());
    }

    private static long heapAfterGc() {
        for (int i = 0; i < 3; i++) System.gc();
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    // ---- the clients ----

    private void work(int worker, long deadline) {
        SplittableRandom rnd = new SplittableRandom(worker * 7919L + 1);
        for (int i = 0; System.nanoTime() < deadline; i++) {
            String rid = "soak-" + worker + "-" + i;
            int pick = rnd.nextInt(100);
            try {
                if (pick < 30) plainGenerate(rnd, rid);
                else if (pick < 50) streamGenerate(rnd, rid);
                else if (pick < 62) completions(rnd);
                else if (pick < 72) chat(rnd);
                else if (pick < 78) abortByRid(rnd, rid);
                else if (pick < 84) duplicateRid(rnd, rid);
                else if (pick < 92) idleOrSlowConnection(rnd);
                else info(rnd);
            } catch (Exception e) {
                problems.add("worker " + worker + " (" + pick + "): " + e);
            }
        }
    }

    private static int[] prompt(SplittableRandom rnd) {
        int[] ids = new int[1 + rnd.nextInt(rnd.nextInt(10) == 0 ? 1500 : 120)];
        for (int i = 0; i < ids.length; i++) ids[i] = 100 + rnd.nextInt(100_000);
        return ids;
    }

    private static int[] probe(int p) {
        int[] ids = new int[8 + p * 5];
        for (int i = 0; i < ids.length; i++) ids[i] = 1000 + 37 * p + 11 * i;
        return ids;
    }

    private static ObjectNode generateBody(int[] prompt, int maxNew, String rid) {
        ObjectNode b = LiveServer.JSON.createObjectNode();
        if (rid != null) b.put("rid", rid);
        ArrayNode ids = b.putArray("input_ids");
        for (int id : prompt) ids.add(id);
        b.putObject("sampling_params").put("max_new_tokens", maxNew).put("temperature", 0).put("ignore_eos", true);
        return b;
    }

    private LiveServer.Response post(String path, JsonNode body) {
        requests.incrementAndGet();
        LiveServer.Response r = live.send(HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(300))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.toString())).build());
        statuses.computeIfAbsent(String.valueOf(r.status()), k -> new AtomicInteger()).incrementAndGet();
        return r;
    }

    private LiveServer.Response generate(int[] prompt, int maxNew, String rid) {
        return post("/generate", generateBody(prompt, maxNew, rid));
    }

    /** 200, or 503 with Retry-After; anything else is a problem. True for a 200. */
    private boolean ok(LiveServer.Response r, String what) {
        if (r.status() == 200) return true;
        if (r.status() == 503 && r.headers().firstValue("Retry-After").isPresent()) return false;
        problems.add(what + ": HTTP " + r.status() + " " + r.body());
        return false;
    }

    private void plainGenerate(SplittableRandom rnd, String rid) {
        boolean isProbe = rnd.nextInt(4) == 0;
        int p = rnd.nextInt(PROBES);
        int[] prompt = isProbe ? probe(p) : prompt(rnd);
        int maxNew = isProbe ? 24 : 1 + rnd.nextInt(64);
        LiveServer.Response r = generate(prompt, maxNew, rid);
        if (!ok(r, "generate " + rid)) return;
        JsonNode out = r.json();
        checkOwn(out, rid, prompt.length, maxNew);
        if (isProbe && !out.get("output_ids").equals(probeOutputs.get(p))) {
            problems.add(rid + ": probe " + p + " got " + out.get("output_ids") + ", alone it gets " + probeOutputs.get(p));
        }
    }

    private void checkOwn(JsonNode out, String rid, int promptTokens, int maxNew) {
        JsonNode meta = out.get("meta_info");
        if (!meta.get("id").asText().equals(rid) || meta.get("prompt_tokens").asInt() != promptTokens
                || out.get("output_ids").size() != maxNew || meta.get("completion_tokens").asInt() != maxNew
                || !meta.at("/finish_reason/type").asText().equals("length")) {
            problems.add(rid + " (prompt " + promptTokens + ", max " + maxNew + ") got someone else's answer or a short one: " + out);
        }
    }

    /** A streamed /generate over a raw socket; 15% of them hang up after a few events. */
    private void streamGenerate(SplittableRandom rnd, String rid) throws IOException {
        int[] prompt = prompt(rnd);
        int maxNew = 2 + rnd.nextInt(64);
        boolean drop = rnd.nextInt(100) < 15;
        int dropAfter = 1 + rnd.nextInt(maxNew - 1);
        byte[] body = generateBody(prompt, maxNew, rid).put("stream", true).toString().getBytes(StandardCharsets.UTF_8);
        requests.incrementAndGet();
        long sent = System.nanoTime();
        try (Socket socket = new Socket(base.getHost(), base.getPort())) {
            socket.setSoTimeout(300_000);
            OutputStream out = socket.getOutputStream();
            out.write(("POST /generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    + "Content-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
            String status = in.readLine();
            String code = status == null ? "closed" : status.substring(9, 12);
            statuses.computeIfAbsent(code, k -> new AtomicInteger()).incrementAndGet();
            if (!code.equals("200")) {
                if (!code.equals("503")) problems.add("stream " + rid + ": " + status);
                return;
            }
            JsonNode last = null;
            int events = 0;
            boolean done = false;
            for (String line; (line = in.readLine()) != null; ) {
                if (line.equals("data: [DONE]")) {
                    done = true;
                    break;
                }
                if (!line.startsWith("data: {")) continue;
                JsonNode e = LiveServer.json(line.substring(6));
                if (last != null && e.get("output_ids").size() <= last.get("output_ids").size()) {
                    problems.add("stream " + rid + " went backwards: " + e);
                }
                last = e;
                if (++events == dropAfter && drop) return; // hang up mid-stream
            }
            if (!done || last == null) {
                problems.add(String.format("stream %s ended without [DONE] after %d events, %.1f s after it was sent; the last: %s",
                        rid, events, (System.nanoTime() - sent) / 1e9, last));
            }
            else checkOwn(last, rid, prompt.length, maxNew);
        }
    }

    private void completions(SplittableRandom rnd) {
        int prompts = 1 + rnd.nextInt(3), n = 1 + rnd.nextInt(2), maxTokens = 1 + rnd.nextInt(32);
        ObjectNode body = LiveServer.JSON.createObjectNode().put("max_tokens", maxTokens).put("n", n).put("temperature", 0.7)
                .put("ignore_eos", true);
        ArrayNode list = body.putArray("prompt");
        int total = 0;
        for (int p = 0; p < prompts; p++) {
            int[] ids = prompt(rnd);
            total += ids.length;
            ArrayNode a = list.addArray();
            for (int id : ids) a.add(id);
        }
        LiveServer.Response r = post("/v1/completions", body);
        if (!ok(r, "completions")) return;
        JsonNode out = r.json();
        if (out.get("choices").size() != prompts * n || out.at("/usage/prompt_tokens").asInt() != total
                || out.at("/usage/completion_tokens").asInt() != prompts * n * maxTokens) {
            problems.add("completions answer does not match its request (" + prompts + " prompts x n " + n + ", " + total
                    + " prompt tokens, " + maxTokens + " each): " + out);
        }
    }

    private void chat(SplittableRandom rnd) {
        int maxTokens = 1 + rnd.nextInt(24);
        ObjectNode body = LiveServer.JSON.createObjectNode().put("max_tokens", maxTokens).put("ignore_eos", true);
        body.putArray("messages").addObject().put("role", "user").put("content", "Tell me about the number " + rnd.nextInt(1000));
        if (rnd.nextBoolean()) {
            body.put("stream", true).putObject("stream_options").put("include_usage", true);
            LiveServer.Response r = post("/v1/chat/completions", body);
            if (!ok(r, "chat stream")) return;
            if (!r.body().contains("\"completion_tokens\":" + maxTokens) || !r.body().endsWith("data: [DONE]\n\n")) {
                problems.add("chat stream without its usage or [DONE]: " + r.body());
            }
            return;
        }
        LiveServer.Response r = post("/v1/chat/completions", body);
        if (ok(r, "chat") && r.json().at("/usage/completion_tokens").asInt() != maxTokens) {
            problems.add("chat answer of the wrong length: " + r.body());
        }
    }

    private void abortByRid(SplittableRandom rnd, String rid) throws Exception {
        var pending = Thread.ofVirtual().start(() -> {
            LiveServer.Response r = generate(prompt(rnd), 2000, rid);
            if (ok(r, "aborted " + rid)) {
                String type = r.json().at("/meta_info/finish_reason/type").asText();
                if (!r.json().at("/meta_info/id").asText().equals(rid) || !(type.equals("abort") || type.equals("length"))) {
                    problems.add("aborted request " + rid + " ended as " + r.body());
                }
            }
        });
        Thread.sleep(50 + rnd.nextInt(500));
        ObjectNode abort = LiveServer.JSON.createObjectNode().put("rid", rid);
        ok(post("/abort_request", abort), "abort " + rid);
        pending.join();
    }

    /**
     * Two requests with one rid, the second sent while the first may still be in flight: whichever arrives second
     * while the other runs is a 400 naming rid, never both, and an answer that comes back is its own client's.
     */
    private void duplicateRid(SplittableRandom rnd, String rid) throws Exception {
        int[] first = prompt(rnd), second = prompt(rnd);
        int maxFirst = 40 + rnd.nextInt(80);
        AtomicInteger firstStatus = new AtomicInteger();
        var a = Thread.ofVirtual().start(() -> firstStatus.set(sameRid(generate(first, maxFirst, rid), rid, first.length, maxFirst)));
        Thread.sleep(rnd.nextInt(200));
        int secondStatus = sameRid(generate(second, 10, rid), rid, second.length, 10);
        a.join();
        if (firstStatus.get() == 400 && secondStatus == 400) problems.add("both requests with rid " + rid + " were refused");
    }

    private int sameRid(LiveServer.Response r, String rid, int promptTokens, int maxNew) {
        if (r.status() == 200) {
            checkOwn(r.json(), rid, promptTokens, maxNew);
        } else if (r.status() == 400) {
            if (!r.json().at("/error/param").asText().equals("rid")) problems.add("duplicate rid refused for another reason: " + r.body());
        } else {
            ok(r, "duplicate rid " + rid);
        }
        return r.status();
    }

    /** A connection that says nothing, or sends half a request slowly, then goes away. */
    private void idleOrSlowConnection(SplittableRandom rnd) throws Exception {
        requests.incrementAndGet();
        try (Socket s = new Socket(base.getHost(), base.getPort())) {
            if (rnd.nextBoolean()) {
                Thread.sleep(500 + rnd.nextInt(3000));
                return;
            }
            OutputStream out = s.getOutputStream();
            byte[] head = "POST /generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"inp"
                    .getBytes(StandardCharsets.US_ASCII);
            for (byte b : head) {
                out.write(b);
                out.flush();
                Thread.sleep(rnd.nextInt(40));
            }
            Thread.sleep(rnd.nextInt(1500));
        } catch (IOException e) {
            // the server may close a slow connection first: that is what it should do
        }
    }

    private void info(SplittableRandom rnd) {
        String path = List.of("/health", "/metrics", "/server_info", "/v1/models").get(rnd.nextInt(4));
        requests.incrementAndGet();
        LiveServer.Response r = live.send(HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(60)).GET().build());
        statuses.computeIfAbsent(String.valueOf(r.status()), k -> new AtomicInteger()).incrementAndGet();
        if (r.status() != 200) problems.add(path + ": HTTP " + r.status() + " " + r.body());
    }
}
