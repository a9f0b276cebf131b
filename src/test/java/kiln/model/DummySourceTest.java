package kiln.model;

import kiln.backend.cpu.CpuBackend;
import kiln.config.ModelConfig;
import kiln.io.DType;
import kiln.io.TensorData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.security.MessageDigest;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Dummy weights generated per rank: a rank's piece (rows or columns, FP8 block scales included) equals, element
 * for element, the same slice of the whole tensor, and the whole tensor has the values it had when every rank
 * generated it whole (so TP 1 figures measured on dummy weights stay comparable).
 */
class DummySourceTest {
    private static final int[] BLOCK = {128, 128};
    /** 327,680 elements: five of the generator's 65,536-element streams, so pieces start and end inside streams. */
    private static final long[] SHAPE = {512, 640};
    private static final String NAME = "model.layers.3.mlp.experts.7.down_proj.weight";

    private static byte[] bytes(TensorData t) {
        return t.data().toArray(ValueLayout.JAVA_BYTE);
    }

    @Test
    void wholeTensorsKeepTheValuesOfTheWholeTensorGenerator() throws Exception {
        // SHA-256 of a [300, 700] tensor as the generator of whole tensors (before per-rank pieces) wrote it
        String[][] expected = {
                {"LINEAR", "82e3d9c8dd88369e6264857e0decc7c27042711510c18379d112f380e334d349"},
                {"DENSE", "6a5d0691f662e9df7b276feeb99b9b12833a61febc0218b120fd8e5364a47f72"},
                {"SCORE_BIAS", "bb7500711f40114e85d784dd90b23831121e369369062a8d783135cdceb26343"}};
        DummySource s = new DummySource(BLOCK);
        long[] shape = {300, 700};
        for (String[] e : expected) {
            TensorData t = s.tensor(NAME, shape, WeightSource.Kind.valueOf(e[0]), Split.Piece.whole(shape));
            assertEquals(e[1], HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes(t))), e[0]);
        }
    }

    @ParameterizedTest
    @EnumSource(value = WeightSource.Kind.class, names = {"LINEAR", "DENSE", "SCORE_BIAS"})
    void everyRanksRowsAndColumnsAreTheWholeTensorsSlice(WeightSource.Kind kind) {
        DummySource s = new DummySource(BLOCK);
        TensorData whole = s.tensor(NAME, SHAPE, kind, Split.Piece.whole(SHAPE));
        int[] block = whole.dtype() == DType.F8_E4M3 ? BLOCK : null;
        // rows: 4 ranks of 128 rows; columns: 5 heads of 128, at tp 5
        Split rows = Split.rows(8, "heads"), columns = Split.columns(5, "heads");
        try (Arena arena = Arena.ofConfined()) {
            for (int r = 0; r < 4; r++) {
                Split.Piece p = rows.piece(NAME, SHAPE, new Shard(r, 4), block);
                TensorData part = s.tensor(NAME, SHAPE, kind, p);
                assertArrayEquals(new long[]{128, 640}, part.shape());
                assertArrayEquals(bytes(whole.rows(p.start(), p.count())), bytes(part), kind + " rows of rank " + r);
            }
            for (int r = 0; r < 5; r++) {
                Split.Piece p = columns.piece(NAME, SHAPE, new Shard(r, 5), block);
                TensorData part = s.tensor(NAME, SHAPE, kind, p);
                assertArrayEquals(new long[]{512, 128}, part.shape());
                assertArrayEquals(bytes(whole.columns(p.start(), p.count(), arena)), bytes(part), kind + " columns of rank " + r);
            }
        }
        // a vector's piece (a bias split with its projection's rows)
        long[] vector = {70_000};
        TensorData v = s.tensor("b", vector, kind, Split.Piece.whole(vector));
        Split.Piece p = Split.rows(10, "heads").piece("b", vector, new Shard(3, 5), null);
        assertArrayEquals(bytes(v.rows(p.start(), p.count())), bytes(s.tensor("b", vector, kind, p)));
    }

    /**
     * Dummy weights with a different scale for every block, as real checkpoints have (the dummy source's own scales
     * are one value), each piece of them the same slice of the whole scales: what {@link Weights} must ask for.
     */
    private static final class BlockScaledDummy implements WeightSource {
        private final DummySource values = new DummySource(BLOCK);

        public DType dtype(String name, long[] shape, Kind kind) { return values.dtype(name, shape, kind); }
        public TensorData tensor(String name, long[] shape, Kind kind, Split.Piece piece) { return values.tensor(name, shape, kind, piece); }
        public boolean has(String name) { return true; }
        public String describe() { return "dummy weights with per-block scales"; }
        public void close() {}

        public TensorData scales(String weightName, long[] scaleShape, Split.Piece piece) {
            var m = Arena.ofAuto().allocate(4 * scaleShape[0] * scaleShape[1]);
            for (long i = 0; i < scaleShape[0] * scaleShape[1]; i++) m.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, 0.01f * (1 + i));
            TensorData whole = new TensorData(weightName + "_scale_inv", DType.F32, scaleShape, m, "test");
            return piece.axis() == 0 ? whole.rows(piece.start(), piece.count()) : whole.columns(piece.start(), piece.count(), Arena.ofAuto());
        }
    }

    private static Weights weights(WeightSource source, Shard shard) {
        return new Weights(source, new CpuBackend(), DefaultModel.config(null), shard, new LoadProgress(1), 0);
    }

    /**
     * Through {@link Weights}, which asks for the piece's block scales: each rank's FP8 weight with its scales applied
     * equals the same slice of the whole weight with the whole scales applied, for rows and for columns.
     */
    @Test
    void everyRanksFp8WeightWithItsBlockScalesIsTheWholeWeightsSlice() {
        int out = (int) SHAPE[0], in = (int) SHAPE[1];
        assertArrayEquals(BLOCK, DefaultModel.config(null).fp8BlockSize());
        float[] whole = weights(new BlockScaledDummy(), Shard.WHOLE).floats(NAME, out, in, Split.WHOLE);
        for (int r = 0; r < 4; r++) {
            float[] part = weights(new BlockScaledDummy(), new Shard(r, 4)).floats(NAME, out, in, Split.rows(8, "heads"));
            float[] expected = new float[part.length];
            System.arraycopy(whole, r * 128 * in, expected, 0, expected.length);
            assertArrayEquals(expected, part, "rows of rank " + r);
        }
        for (int r = 0; r < 5; r++) {
            float[] part = weights(new BlockScaledDummy(), new Shard(r, 5)).floats(NAME, out, in, Split.columns(5, "heads"));
            float[] expected = new float[part.length];
            for (int row = 0; row < out; row++) System.arraycopy(whole, row * in + r * 128, expected, row * 128, 128);
            assertArrayEquals(expected, part, "columns of rank " + r);
        }
    }

    @Test
    void theDummyScalesOfAPieceAreTheWholeScalesSlice() {
        DummySource s = new DummySource(BLOCK);
        long[] scaleShape = {4, 5};
        TensorData whole = s.scales(NAME, scaleShape, Split.Piece.whole(scaleShape));
        try (Arena arena = Arena.ofConfined()) {
            assertArrayEquals(bytes(whole.rows(1, 2)), bytes(s.scales(NAME, scaleShape, new Split.Piece(0, 1, 2))));
            TensorData columns = s.scales(NAME, scaleShape, new Split.Piece(1, 3, 1));
            assertArrayEquals(new long[]{4, 1}, columns.shape());
            assertArrayEquals(bytes(whole.columns(3, 1, arena)), bytes(columns));
        }
    }
}
