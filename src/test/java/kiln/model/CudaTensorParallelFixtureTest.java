package kiln.model;

import kiln.backend.Backend;
import kiln.backend.RankGroup;
import kiln.backend.cuda.CudaBackend;
import kiln.backend.cuda.CudaGraphRunner;
import kiln.backend.cuda.TpRanksConfig;
import kiln.config.ModelConfig;
import org.junit.jupiter.api.Nested;

import java.nio.file.Path;

/**
 * The fixture checks of {@link FixtureTest} (HF float32 references at the same tolerance, greedy tokens, chunking,
 * decode over the cache, batching) on CUDA tensor-parallel ranks in float32, eager and with decode replayed as CUDA
 * graphs: virtual ranks (every rank on the one GPU) at tp 2 and 4, and NCCL with one rank. Fixtures whose shapes a
 * tp cannot split are skipped here (TensorParallelFixtureTest checks which). Skipped where no GPU is usable (CI).
 */
class CudaTensorParallelFixtureTest {
    /** FixtureTest on {@code tp()} ranks of {@code kind()}, loaded as Models.load would load them. */
    abstract static class OnRanks extends FixtureTest {
        abstract int tp();

        abstract TpRanksConfig.Kind kind();

        boolean graphs() {
            return false;
        }

        @Override
        protected Backend backend() {
            return CudaFixtureTest.cudaFloat32();
        }

        @Override
        protected Model loadModel(Path dir, Backend backend) {
            RankGroup group = ((CudaBackend) backend).ranks(tp(), TpRanksConfig.fromProperties().withKind(kind()));
            ModelConfig config = ModelConfig.load(dir);
            return TensorParallelModel.load(group, r -> Models.loadRank(config, dir, Models.LoadFormat.AUTO, group.rank(r)));
        }

        @Override
        protected Model prepare(Model model) {
            return graphs() ? new CudaGraphRunner(model, 8) : model;
        }
    }

    @Nested
    class VirtualTp2 extends OnRanks {
        int tp() { return 2; }

        TpRanksConfig.Kind kind() { return TpRanksConfig.Kind.VIRTUAL; }
    }

    @Nested
    class VirtualTp2Graphs extends VirtualTp2 {
        @Override
        boolean graphs() { return true; }
    }

    @Nested
    class VirtualTp4 extends OnRanks {
        int tp() { return 4; }

        TpRanksConfig.Kind kind() { return TpRanksConfig.Kind.VIRTUAL; }
    }

    @Nested
    class VirtualTp4Graphs extends VirtualTp4 {
        @Override
        boolean graphs() { return true; }
    }

    @Nested
    class NcclOneRank extends OnRanks {
        int tp() { return 1; }

        TpRanksConfig.Kind kind() { return TpRanksConfig.Kind.NCCL; }
    }

    @Nested
    class NcclOneRankGraphs extends NcclOneRank {
        @Override
        boolean graphs() { return true; }
    }
}
