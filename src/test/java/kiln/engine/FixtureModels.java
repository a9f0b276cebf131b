package kiln.engine;

import kiln.backend.Backend;
import kiln.backend.cpu.CpuBackend;
import kiln.backend.cuda.CudaGraphRunner;
import kiln.model.CudaFixtureAccess;
import kiln.model.Fixture;
import kiln.model.Model;
import kiln.model.Models;
import kiln.model.TensorParallelModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fixture models the engine tests drive (deepseek-v3-tiny and qwen2-tiny), loaded once per class, where the
 * subclass places them ({@link #placement}).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class FixtureModels {
    /**
     * Where the models run: the CPU, the CPU with MLA's latent cache in FP8 (the MLA models; the others as on the
     * CPU), two in-process CPU ranks, or the GPU in float32 with decode behind CUDA graphs.
     */
    protected enum Placement {
        CPU, CPU_FP8_KV_CACHE, TWO_CPU_RANKS, CUDA_GRAPHS;

        /** The backend for model {@code name}. */
        Backend backend(String name) {
            return switch (this) {
                case CUDA_GRAPHS -> CudaFixtureAccess.cudaFloat32();
                case CPU_FP8_KV_CACHE -> new CpuBackend(false, name.startsWith("deepseek"));
                default -> new CpuBackend();
            };
        }

        int tp() {
            return this == TWO_CPU_RANKS ? 2 : 1;
        }

        /** The model as the engine drives it. */
        Model prepare(Model model) {
            return switch (this) {
                case CPU, CPU_FP8_KV_CACHE -> model;
                case TWO_CPU_RANKS -> {
                    assertTrue(model instanceof TensorParallelModel m && m.size() == 2, model.backend().name());
                    yield model;
                }
                case CUDA_GRAPHS -> new CudaGraphRunner(model, 32);
            };
        }
    }

    private final Map<String, Model> models = new HashMap<>();
    private final List<Backend> backends = new ArrayList<>();

    protected Placement placement() {
        return Placement.CPU;
    }

    @BeforeAll
    void load() {
        Placement p = placement();
        for (String name : List.of("deepseek-v3-tiny", "qwen2-tiny")) {
            Backend b = p.backend(name);
            backends.add(b);
            models.put(name, p.prepare(Models.load(Fixture.ROOT.resolve(name), Models.LoadFormat.AUTO, b, p.tp())));
        }
    }

    @AfterAll
    void close() {
        models.values().forEach(Model::close);
        backends.forEach(Backend::close);
    }

    /** The loaded fixture model {@code name}. */
    protected final Model model(String name) {
        return models.get(name);
    }
}
