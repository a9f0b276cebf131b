package kiln.server;

/**
 * The requests whose routes are still running: their answers are not all written yet. Stopping waits on them
 * (bounded) between aborting the server's requests and closing the listener, so that each aborted request still
 * tells its client how it ended (an error answer, or a stream's error event and [DONE]) instead of having its
 * connection cut after its last token.
 */
final class Exchanges {
    private int open;

    synchronized void opened() {
        open++;
    }

    synchronized void closed() {
        if (--open == 0) notifyAll();
    }

    synchronized int open() {
        return open;
    }

    /** Waits until no route is running or {@code millis} have passed; true when none is. */
    synchronized boolean awaitNone(long millis) throws InterruptedException {
        long deadline = System.nanoTime() + millis * 1_000_000;
        while (open > 0) {
            long left = deadline - System.nanoTime();
            if (left <= 0) return false;
            wait(Math.max(1, left / 1_000_000));
        }
        return true;
    }
}
