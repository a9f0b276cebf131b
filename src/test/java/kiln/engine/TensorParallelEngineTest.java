package kiln.engine;

import kiln.model.Model;
import kiln.model.TensorParallelModel;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The engine tests on two in-process CPU ranks: batching, chunking, prefix reuse, retraction, aborts, seeds and
 * n > 1 keep their outputs, because every rank computes its part of each token the same way whatever the batch,
 * and the all-reduce adds the ranks' parts in a fixed order.
 */
class TensorParallelEngineTest extends EngineTest {
    @Override
    protected int tp() {
        return 2;
    }

    @Override
    protected Model prepare(Model model) {
        assertTrue(model instanceof TensorParallelModel m && m.size() == 2, model.backend().name());
        return model;
    }
}
