package kiln.server;

import kiln.Log;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.SelectorManager;
import org.eclipse.jetty.util.IO;
import org.eclipse.jetty.util.component.AbstractLifeCycle;

import java.nio.channels.SelectableChannel;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Who may hold a connection, and for how long: the listener's defence against too many clients and against slow
 * ones (a bean of the connector, which tells it of every accept and every connection).
 * <ul>
 * <li>At most {@code cap} connections are open. One accepted past the cap is closed at once, so the client learns
 * at once instead of waiting in the kernel's listen backlog, and the process never holds more descriptors than the
 * cap allows for (the connector keeps accepting after a failed accept).</li>
 * <li>A request must keep arriving: from its first byte until its body has been read, the request line, headers and
 * body together may take {@code slack} plus one second per {@link #READ_RATE} bytes received. A client that sends a
 * request a byte at a time (slowloris) is closed after about {@code slack}, however often its bytes come; an honest
 * slow upload of a large body is not.</li>
 * </ul>
 * Connections with no request under way (silent after connecting, or idle between requests) are closed by the
 * connector's idle timeout, which is off while a route runs (a generation may take long): then a stalled body is
 * this guard's to close, and a stalled write {@link ServerResponse}'s.
 */
final class ConnectionGuard extends AbstractLifeCycle implements SelectorManager.AcceptListener, Connection.Listener {
    /** Bytes per second a request must average, past its slack. */
    static final long READ_RATE = 1024;
    private static final long LOG_EVERY_NANOS = TimeUnit.SECONDS.toNanos(10);

    private final int cap;
    private final long slackNanos;
    private final Map<Connection, Arrival> connections = new ConcurrentHashMap<>();
    private int pending, open;
    private long refused, slowClosed, lastLog;
    private ScheduledExecutorService sweeper;

    ConnectionGuard(int cap, Duration slack) {
        this.cap = cap;
        this.slackNanos = slack.toNanos();
    }

    /** How the current request of one connection is arriving. */
    private static final class Arrival {
        private boolean handling, bodyPending, timing;
        private long mark, since;

        /** Whether the request under way has taken longer to arrive than its bytes allow. */
        synchronized boolean overdue(long bytesIn, long now, long slack) {
            boolean arriving = handling ? bodyPending : bytesIn > mark;
            if (!arriving) {
                timing = false;
                return false;
            }
            if (!timing) {
                timing = true;
                since = now;
            }
            long allowed = slack + (bytesIn - mark) * TimeUnit.SECONDS.toNanos(1) / READ_RATE;
            return now - since > allowed;
        }

        synchronized void started(boolean body, long now) {
            handling = true;
            bodyPending = body;
            if (!timing) {
                timing = true;
                since = now;
            }
        }

        synchronized void bodyRead() {
            bodyPending = false;
        }

        synchronized void finished(long bytesIn) {
            handling = false;
            bodyPending = false;
            timing = false;
            mark = bytesIn;
        }
    }

    /** A route starts on this connection; {@code body}: its request has a body still to be read. */
    void started(Connection c, boolean body) {
        Arrival a = connections.get(c);
        if (a != null) a.started(body, System.nanoTime());
    }

    void bodyRead(Connection c) {
        Arrival a = connections.get(c);
        if (a != null) a.bodyRead();
    }

    void finished(Connection c) {
        Arrival a = connections.get(c); // none once the connection has closed
        if (a != null) a.finished(c.getBytesIn());
    }

    @Override
    protected void doStart() {
        long period = Math.clamp(slackNanos / 4, TimeUnit.MILLISECONDS.toNanos(100), TimeUnit.SECONDS.toNanos(1));
        sweeper = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name("kiln-http-guard").daemon().factory());
        sweeper.scheduleWithFixedDelay(this::sweep, period, period, TimeUnit.NANOSECONDS);
    }

    @Override
    protected void doStop() {
        sweeper.shutdownNow();
    }

    private void sweep() {
        long now = System.nanoTime();
        for (Map.Entry<Connection, Arrival> e : connections.entrySet()) {
            Connection c = e.getKey();
            if (e.getValue().overdue(c.getBytesIn(), now, slackNanos)) {
                c.getEndPoint().close();
                synchronized (this) {
                    slowClosed++;
                }
            }
        }
        synchronized (this) {
            if ((refused > 0 || slowClosed > 0) && now - lastLog > LOG_EVERY_NANOS) {
                Log.warn("Connections: refused %d past the cap of %d, closed %d that sent a request too slowly", refused, cap, slowClosed);
                refused = 0;
                slowClosed = 0;
                lastLog = now;
            }
        }
    }

    @Override
    public void onOpened(Connection connection) {
        connections.put(connection, new Arrival());
    }

    @Override
    public void onClosed(Connection connection) {
        connections.remove(connection);
    }

    @Override
    public synchronized void onAccepting(SelectableChannel channel) {
        pending++;
        if (pending + open > cap) {
            refused++;
            // the selector then reports the accept as failed (onAcceptFailed)
            IO.close(channel);
        }
    }

    @Override
    public synchronized void onAcceptFailed(SelectableChannel channel, Throwable cause) {
        pending--;
    }

    @Override
    public synchronized void onAccepted(SelectableChannel channel) {
        pending--;
        open++;
    }

    @Override
    public synchronized void onClosed(SelectableChannel channel) {
        open--;
    }
}
