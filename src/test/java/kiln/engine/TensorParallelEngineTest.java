package kiln.engine;

/**
 * The engine tests on two in-process CPU ranks: batching, chunking, prefix reuse, retraction, aborts, seeds and
 * n > 1 keep their outputs, because every rank computes its part of each token the same way whatever the batch,
 * and the all-reduce adds the ranks' parts in a fixed order.
 */
class TensorParallelEngineTest extends EngineTest {
    @Override
    protected Placement placement() {
        return Placement.TWO_CPU_RANKS;
    }
}
