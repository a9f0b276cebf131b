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

    Backend backend();

    KvLayout kvLayout();

    /** Logits [batch.logitRows().length, vocab] for the rows that asked for them, resident on the backend. */
    Tensor forward(ForwardBatch batch, KvCache cache);

    /** Bytes of weights held. */
    long weightBytes();

    /** Bytes of weights one decode step of a single token reads (experts: only those chosen). */
    long decodeBytesPerToken();

    @Override
    void close();
}
