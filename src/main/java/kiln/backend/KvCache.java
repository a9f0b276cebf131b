package kiln.backend;

/** The KV pool of a backend: {@code slots()} token slots, each holding {@link KvLayout} values per layer. */
public interface KvCache extends AutoCloseable {
    KvLayout layout();

    int slots();

    long bytes();

    @Override
    void close();
}
