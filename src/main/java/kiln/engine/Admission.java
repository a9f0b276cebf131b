package kiln.engine;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * What callers may put into the engine, decided on their own threads and atomically: request ids are unique among
 * the requests in flight (an id names one stream of outputs, and an abort by id must reach only that one), and the
 * sequences waiting to start never exceed --max-queued-requests. Every sample a request brings counts, so a batch
 * of 500 prompts or n = 8 is weighed at its true size. The scheduler gives back what it takes off: queue places
 * when a sequence first starts (or ends without starting), the id when the request's last output has been sent.
 */
final class Admission {
    private final int maxQueued;
    private final Set<String> inFlight = new HashSet<>();
    private int queued;

    Admission(int maxQueued) {
        this.maxQueued = maxQueued;
    }

    /** Reserves ids and queue places for all of {@code requests}, or for none of them (throws). */
    synchronized void admit(List<Request> requests) {
        long sequences = 0;
        Set<String> ids = new HashSet<>();
        for (Request r : requests) {
            sequences += r.params().n();
            if (!ids.add(r.id()) || inFlight.contains(r.id())) {
                throw new EngineException("a request with rid '" + r.id() + "' is already in flight; rids must be unique among "
                        + "running and waiting requests", false, "rid");
            }
        }
        if (sequences > maxQueued) {
            // blamed on what there is more than one of: the prompts of a batch (SGLang's input_ids), else the one's n
            boolean batch = requests.size() > 1;
            throw new EngineException("the request brings " + sequences + " sequences (" + (batch ? requests.size() + " prompts x their n"
                    : "one prompt with n " + sequences) + "), more than the waiting queue can ever hold (--max-queued-requests "
                    + maxQueued + "); send fewer at a time", false, batch ? "input_ids" : "n");
        }
        if (queued + sequences > maxQueued) {
            throw new EngineException("the waiting queue is full (" + queued + " of " + maxQueued + " sequences; this request "
                    + "brings " + sequences + ")", true, null);
        }
        queued += (int) sequences;
        inFlight.addAll(ids);
    }

    /** {@code sequences} left the queue: they started, or ended before starting. */
    synchronized void dequeued(int sequences) {
        queued -= sequences;
        if (queued < 0) throw new IllegalStateException("queue accounting went negative: " + queued);
    }

    /** The request's stream has ended: its id may be used again. */
    synchronized void ended(String requestId) {
        inFlight.remove(requestId);
    }

    synchronized int queued() {
        return queued;
    }

    synchronized int inFlight() {
        return inFlight.size();
    }
}
