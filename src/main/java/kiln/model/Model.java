package kiln.model;

import kiln.backend.Backend;
import kiln.backend.ForwardBatch;
import kiln.backend.KvCache;
import kiln.backend.KvLayout;
import kiln.backend.Tensor;
import kiln.config.ModelConfig;

/** A causal language model over a backend: one forward per batch, reading and writing a paged KV cache. */
public interface Model extends AutoCloseable {
    ModelConfig config();

    /** Where the logits of {@link #forward} live, and where the engine samples (rank 0's in a tensor-parallel group). */
    Backend backend();

    KvLayout kvLayout();

    /** Logits [batch.logitRows().length, vocab] for the rows that asked for them, resident on the backend. */
    Tensor forward(ForwardBatch batch, KvCache cache);

    /** A KV pool of {@code slots} token slots for {@link #forward} (one per rank in a tensor-parallel group). */
    default KvCache newKvCache(int slots) {
        return backend().kvCache(kvLayout(), slots);
    }

    /** Bytes one token slot of {@link #newKvCache} takes on one device (the largest rank's in a group). */
    default long kvBytesPerToken() {
        return backend().kvBytesPerToken(kvLayout());
    }

    /** Bytes of KV pool one device can hold under {@code --mem-fraction-static} (the smallest rank's in a group). */
    default long kvMemoryBudget(double memFractionStatic) {
        return backend().kvMemoryBudget(memFractionStatic);
    }

    /** Bytes of weights held. */
    long weightBytes();

    /** Bytes of weights one decode step of a single token reads (experts: only those chosen). */
    long decodeBytesPerToken();

    @Override
    void close();
}
