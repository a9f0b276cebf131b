package kiln.engine;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A submitted request as its caller sees it: a stream of outputs that ends after every sample's final output.
 * One consumer thread reads it.
 */
public final class RequestHandle {
    private final String id;
    private final int samples;
    private final Engine engine;
    private final BlockingQueue<Output> outputs = new LinkedBlockingQueue<>();
    private int finishedSeen;

    RequestHandle(String id, int samples, Engine engine) {
        this.id = id;
        this.samples = samples;
        this.engine = engine;
    }

    public String id() {
        return id;
    }

    public int samples() {
        return samples;
    }

    /** The next output, waiting for it; null after the last sample's final output has been returned. */
    public Output next() throws InterruptedException {
        if (finishedSeen == samples) return null;
        return seen(outputs.take());
    }

    /** The next output within the timeout; null when none came (or the stream has ended: see {@link #ended}). */
    public Output poll(long timeout, TimeUnit unit) throws InterruptedException {
        if (finishedSeen == samples) return null;
        return seen(outputs.poll(timeout, unit));
    }

    public boolean ended() {
        return finishedSeen == samples;
    }

    private Output seen(Output o) {
        if (o != null && o.finished()) finishedSeen++;
        return o;
    }

    /** Stops generation now; every unfinished sample ends with finish reason "abort" and its slots are freed. */
    public void cancel() {
        engine.abort(id);
    }

    /** As {@link #cancel()}, for a reason other than the client asking: {@code message} says what happened. */
    public void cancel(String message) {
        engine.abort(id, message);
    }

    void deliver(Output o) {
        outputs.add(o);
    }
}
