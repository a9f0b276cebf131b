package kiln.engine;

/** The overlapped scheduler over two in-process CPU ranks: each rank resolves the future tokens of its batch. */
class TensorParallelOverlapScheduleTest extends OverlapScheduleTest {
    @Override
    protected Placement placement() {
        return Placement.TWO_CPU_RANKS;
    }
}
