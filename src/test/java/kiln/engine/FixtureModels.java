package kiln.engine;

import kiln.backend.Backend;
import kiln.backend.cpu.CpuBackend;
import kiln.model.Fixture;
import kiln.model.Model;
import kiln.model.Models;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The fixture models the engine tests drive (deepseek-v3-tiny and qwen2-tiny), loaded once per class. Subclasses
 * pick where they run: the backend (GPU variants), how the engine wraps them (CUDA graphs), and tensor-parallel
 * ranks.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class FixtureModels {
    private final Map<String, Model> models = new HashMap<>();
    private final List<Backend> backends = new ArrayList<>();

    /** The backend the models run on (the Cuda* variants: the GPU). */
    protected Backend backend() {
        return new CpuBackend();
    }

    /** The model as the engine drives it (the Cuda* variants: behind CUDA graphs). */
    protected Model prepare(Model model) {
        return model;
    }

    /** Tensor-parallel ranks of each model (the TensorParallel* variants: 2). */
    protected int tp() {
        return 1;
    }

    @BeforeAll
    void load() {
        for (String name : List.of("deepseek-v3-tiny", "qwen2-tiny")) {
            Backend b = backend();
            backends.add(b);
            models.put(name, prepare(Models.load(Fixture.ROOT.resolve(name), Models.LoadFormat.AUTO, b, tp())));
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
