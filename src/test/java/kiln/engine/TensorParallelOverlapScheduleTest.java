package kiln.engine;

import kiln.model.Model;
import kiln.model.TensorParallelModel;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** The overlapped scheduler over two in-process CPU ranks: each rank resolves the future tokens of its batch. */
class TensorParallelOverlapScheduleTest extends OverlapScheduleTest {
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
