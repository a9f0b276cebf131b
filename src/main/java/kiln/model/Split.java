package kiln.model;

import kiln.config.ConfigException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * How one weight divides among tensor-parallel ranks. Whole: every rank holds all of it (replicated). Rows: each
 * rank holds some output rows (column-parallel: it computes some of the output features, e.g. its heads' queries).
 * Columns: each rank holds some input columns (row-parallel: it computes a partial sum of every output feature,
 * which an all-reduce completes). The split dimension is cut only between whole units: attention heads, or single
 * rows of an intermediate or vocabulary dimension.
 *
 * <p>A block-FP8 weight (one scale per 128x128 block) may not be cut inside a block: that would leave two ranks
 * sharing a scale the kernels read per whole block. {@link #piece} refuses such a split, naming the tp values that
 * keep whole blocks.
 */
public sealed interface Split {
    /** Every rank holds the whole tensor. */
    record Whole() implements Split {}

    /**
     * Output rows in {@code units} equal groups ({@code unit} names them in messages), shared out evenly. With
     * {@code replicate}, a tp beyond the units (a multiple of them) gives each group to several ranks: GQA's
     * key/value heads, which the query heads of several ranks read.
     */
    record Rows(int units, String unit, boolean replicate) implements Split {}

    /** Input columns in {@code units} equal groups, shared out evenly. */
    record Columns(int units, String unit) implements Split {}

    Split WHOLE = new Whole();

    static Split rows(int units, String unit) {
        return new Rows(units, unit, false);
    }

    /** Rows of key/value heads: split while tp <= heads, one head per rank (shared) beyond. */
    static Split kvHeadRows(int kvHeads) {
        return new Rows(kvHeads, "key/value heads", true);
    }

    static Split columns(int units, String unit) {
        return new Columns(units, unit);
    }

    /** The part of a tensor one rank holds: {@code count} rows (axis 0) or columns (axis 1) from {@code start}. */
    record Piece(int axis, long start, long count) {
        static Piece whole(long[] shape) {
            return new Piece(0, 0, shape[0]);
        }
    }

    /**
     * The piece of tensor {@code name} (full shape {@code shape}) that rank {@code shard} holds. {@code fp8Block} is
     * the [rows, cols] scale block when the tensor is stored block-FP8, else null. Throws ConfigException naming
     * --tp, the tensor and the tp values that would work when the split is impossible.
     */
    default Piece piece(String name, long[] shape, Shard shard, int[] fp8Block) {
        int axis;
        int units;
        boolean replicate;
        String unit;
        switch (this) {
            case Whole w -> {
                return Piece.whole(shape);
            }
            case Rows r -> {
                axis = 0;
                units = r.units();
                unit = r.unit();
                replicate = r.replicate();
            }
            case Columns c -> {
                axis = 1;
                units = c.units();
                unit = c.unit();
                replicate = false;
            }
        }
        long dim = shape[axis];
        if (units < 1 || dim % units != 0) {
            throw new IllegalStateException(name + " " + Arrays.toString(shape) + ": " + dim + " is not " + units + " equal " + unit);
        }
        long unitSize = dim / units;
        int size = shard.size();
        String what = name + " " + Arrays.toString(shape) + " (split by " + (axis == 0 ? "rows" : "columns") + " in " + units + " " + unit + ")";
        if (!splits(units, size, replicate)) {
            throw new ConfigException("--tp " + size + ": " + what + " cannot be shared evenly by " + size + " ranks; --tp must "
                    + (replicate ? "divide " + units + " or be a multiple of it" : "divide " + units) + ": "
                    + join(working(units, unitSize, replicate, 0)));
        }
        long start, count;
        if (size <= units) {
            count = units / size * unitSize;
            start = shard.rank() * count;
        } else {
            count = unitSize;
            start = shard.rank() / (size / units) * unitSize;
        }
        if (fp8Block != null) {
            int block = fp8Block[axis];
            if (!wholeBlocks(start, count, dim, block)) {
                throw new ConfigException("--tp " + size + ": " + what + " is stored FP8 with " + fp8Block[0] + "x" + fp8Block[1]
                        + " scale blocks, which shards of " + count + (axis == 0 ? " rows" : " columns") + " would cut; "
                        + "tp values that keep whole blocks: " + join(working(units, unitSize, replicate, block)));
            }
        }
        return new Piece(axis, start, count);
    }

    private static boolean splits(int units, int size, boolean replicate) {
        return units % size == 0 || replicate && size % units == 0;
    }

    /** A piece [start, start + count) of a dimension of {@code dim} keeps whole blocks: both ends on block edges (or the end). */
    private static boolean wholeBlocks(long start, long count, long dim, int block) {
        return start % block == 0 && ((start + count) % block == 0 || start + count == dim);
    }

    /** The tp values (up to 1024) that split {@code units} evenly into pieces of whole blocks (block 0: any pieces). */
    private static List<Integer> working(int units, long unitSize, boolean replicate, int block) {
        List<Integer> out = new ArrayList<>();
        for (int t = 1; t <= 1024; t++) {
            if (!splits(units, t, replicate)) continue;
            long piece = t <= units ? units / t * unitSize : unitSize;
            if (t == 1 || block == 0 || piece % block == 0) out.add(t);
        }
        return out;
    }

    private static String join(List<Integer> values) {
        List<String> s = values.stream().limit(12).map(String::valueOf).toList();
        return String.join(", ", s) + (values.size() > 12 ? ", ..." : "");
    }
}
