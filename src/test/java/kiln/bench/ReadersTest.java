package kiln.bench;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Stream events with chosen arrival times: TTFT, ITL and token counts per API, as sglang.bench_serving reads them. */
class ReadersTest {
    private static final long MS = 1_000_000L;

    private static String feed(ResponseReader r, long at, String json) throws Exception {
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        return r.onEvent(b, 0, b.length, at);
    }

    @Test
    void nativeSplitsEachGapOverTheChunksNewTokens() throws Exception {
        NativeReader r = new NativeReader(0, 0, 5, 99);
        assertNull(feed(r, 10 * MS, "{\"text\": \"\", \"meta_info\": {\"completion_tokens\": 0}}")); // no text yet
        assertNull(feed(r, 40 * MS, "{\"text\": \"a\", \"meta_info\": {\"completion_tokens\": 1, \"x\": [1, {\"y\": 2}]}}"));
        assertNull(feed(r, 60 * MS, "{\"meta_info\": {\"completion_tokens\": 3}, \"text\": \"abc\"}"));
        assertNull(feed(r, 70 * MS, "{\"text\": \"abc\", \"meta_info\": {\"completion_tokens\": 3}}")); // nothing new: skipped
        assertNull(feed(r, 100 * MS, "{\"text\": \"abcd\", \"meta_info\": {\"completion_tokens\": 4}}"));
        RequestOutput o = r.success();
        assertEquals(0.040, o.ttft(), 1e-12);
        assertArrayEquals(new double[]{0.010, 0.010, 0.040}, o.itl(), 1e-12); // 20 ms over 2 tokens; then 40 ms from t=60
        assertEquals(4, o.outputLen());
        assertEquals("abcd", o.generatedText());
    }

    @Test
    void nativeErrorsAndGarbageFailTheRequest() throws Exception {
        assertEquals("server error in the stream: {\"message\":\"out of memory\"}",
                feed(new NativeReader(0, 0, 1, 4), MS, "{\"error\": {\"message\": \"out of memory\"}}"));
        assertTrue(feed(new NativeReader(0, 0, 1, 4), MS, "{\"text\": ").startsWith("not JSON in the stream"));
        assertTrue(feed(new NativeReader(0, 0, 1, 4), MS, "[1, 2]").startsWith("not JSON in the stream"));
    }

    @Test
    void completionsTakeUsageFromAnyChunkAndOneItlPerChunk() throws Exception {
        OpenAiReader r = new OpenAiReader(false, 0, 0, 5, 16);
        assertNull(feed(r, 20 * MS, "{\"choices\": [{\"text\": \"Hel\"}]}"));
        assertNull(feed(r, 25 * MS, "{\"choices\": [{\"text\": \"lo\"}]}"));
        assertNull(feed(r, 26 * MS, "{\"choices\": [{\"text\": \"\"}]}"));
        assertNull(feed(r, 45 * MS, "{\"choices\": [{\"text\": \" world\"}]}"));
        assertEquals(16, r.success().outputLen()); // no usage yet: the requested length
        assertNull(feed(r, 46 * MS, "{\"choices\": [], \"usage\": {\"completion_tokens\": 3}}"));
        RequestOutput o = r.success();
        assertEquals(0.020, o.ttft(), 1e-12);
        assertArrayEquals(new double[]{0.005, 0.020}, o.itl(), 1e-12);
        assertEquals(3, o.outputLen());
        assertEquals("Hello world", o.generatedText());
    }

    @Test
    void chatCountsReasoningThenContent() throws Exception {
        OpenAiReader r = new OpenAiReader(true, 0, 0, 5, 8);
        assertNull(feed(r, 5 * MS, "{\"choices\": [{\"delta\": {\"role\": \"assistant\", \"content\": \"\"}}]}"));
        assertNull(feed(r, 30 * MS, "{\"choices\": [{\"delta\": {\"reasoning_content\": \"Hmm\", \"content\": null}}]}"));
        assertNull(feed(r, 50 * MS, "{\"choices\": [{\"delta\": {\"reasoning\": \".\"}}]}"));
        assertNull(feed(r, 80 * MS, "{\"choices\": [{\"delta\": {\"content\": \"Yes\"}, \"finish_reason\": \"stop\"}], \"usage\": {\"completion_tokens\": 5}}"));
        RequestOutput o = r.success();
        assertEquals(0.030, o.ttft(), 1e-12);
        assertArrayEquals(new double[]{0.020, 0.030}, o.itl(), 1e-12);
        assertEquals("Hmm.Yes", o.generatedText());
        assertEquals(5, o.outputLen());
        assertTrue(feed(new OpenAiReader(true, 0, 0, 1, 1), MS, "{\"error\": \"bad model\"}").contains("bad model"));
    }

    @Test
    void sseLinesAreStrippedAndSplitAcrossReads() throws Exception {
        String stream = "data: {\"a\": 1}\r\n\r\n: keepalive\n" + "data:" + "x".repeat(200_000) + "\n  data: [DONE]  \nlast";
        SseLines lines = new SseLines(new ByteArrayInputStream(stream.getBytes(StandardCharsets.UTF_8)) {
            @Override
            public synchronized int read(byte[] b, int off, int len) {
                return super.read(b, off, Math.min(len, 7)); // the network hands over a few bytes at a time
            }
        });
        List<String> got = new ArrayList<>();
        while (lines.next()) got.add(lines.text());
        assertEquals(List.of("data: {\"a\": 1}", "", ": keepalive", "data:" + "x".repeat(200_000), "data: [DONE]", "last"), got);
        SseLines one = new SseLines(new ByteArrayInputStream("data:  [DONE]\n".getBytes(StandardCharsets.UTF_8)));
        assertTrue(one.next());
        assertTrue(one.startsWith("data:"));
        one.skip(5);
        assertTrue(one.is("[DONE]"));
        assertFalse(one.next());
    }
}
