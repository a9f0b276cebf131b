package kiln.server;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.function.Consumer;

/**
 * Follows several generations at once (a batch, or a prompt list) and hands their chunks to one writer in the order
 * they are produced. Each generation is followed on its own virtual thread, which also builds the chunk (so a
 * sample is only ever touched by one thread); the caller's thread does all the writing.
 */
final class Streams {
    private Streams() {}

    /** Builds the chunk for a sample that just received output, or null when nothing is due yet (stream interval). */
    @FunctionalInterface
    interface ChunkMaker {
        JsonNode chunk(int generation, Generation.Sample sample);
    }

    private record Failure(RuntimeException error) {}

    static void merge(List<Generation> generations, ChunkMaker maker, Consumer<JsonNode> sink) throws InterruptedException {
        if (generations.size() == 1) {
            Generation g = generations.getFirst();
            Generation.Sample s;
            while ((s = g.next()) != null) {
                JsonNode c = maker.chunk(0, s);
                if (c != null) sink.accept(c);
            }
            return;
        }
        BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
        Object end = new Object();
        List<Thread> followers = new ArrayList<>();
        for (int i = 0; i < generations.size(); i++) {
            int index = i;
            Generation g = generations.get(i);
            followers.add(Thread.ofVirtual().name("kiln-follow-" + g.id).start(() -> {
                try {
                    Generation.Sample s;
                    while ((s = g.next()) != null) {
                        JsonNode c = maker.chunk(index, s);
                        if (c != null) queue.add(c);
                    }
                } catch (InterruptedException e) {
                    // the writer gave up (client gone or failed); the generation is cancelled by its owner
                } catch (RuntimeException e) {
                    queue.add(new Failure(e));
                } finally {
                    queue.add(end);
                }
            }));
        }
        try {
            int ended = 0;
            while (ended < generations.size()) {
                Object o = queue.take();
                if (o == end) ended++;
                else if (o instanceof Failure f) throw f.error();
                else sink.accept((JsonNode) o);
            }
        } finally {
            for (Thread t : followers) t.interrupt();
        }
    }
}
