package kiln.backend;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Future tokens: a token {@code -1 - row} of a batch stands for row {@code row} of the previous step's samples. */
class ForwardBatchTest {
    private static ForwardBatch decode(int[] tokens, SampledIds previous) {
        List<ForwardBatch.Seq> seqs = new java.util.ArrayList<>();
        for (int i = 0; i < tokens.length; i++) seqs.add(new ForwardBatch.Seq(i, 1, 3, new int[]{4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3}));
        int[] rows = new int[tokens.length];
        for (int i = 0; i < rows.length; i++) rows[i] = i;
        return new ForwardBatch(tokens, new int[tokens.length], seqs, rows, previous);
    }

    @Test
    void futureTokensResolveToThePreviousSamplesRows() {
        SampledIds previous = SampledIds.ready(new int[]{70, 71, 72});
        ForwardBatch b = decode(new int[]{-3, 9, -1}, previous);
        assertTrue(b.hasFutureTokens());
        ForwardBatch r = b.resolved();
        assertArrayEquals(new int[]{72, 9, 70}, r.tokens());
        assertFalse(r.hasFutureTokens());
        assertArrayEquals(new int[]{-3, 9, -1}, b.tokens(), "resolving must not change the batch it was asked of");
        ForwardBatch known = decode(new int[]{1, 2}, previous);
        assertFalse(known.hasFutureTokens());
        assertSame(known, known.resolved());
    }

    @Test
    void aFutureTokenWithoutSamplesToReadIsRefused() {
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> decode(new int[]{-1}, null));
        assertTrue(none.getMessage().contains("sampled nothing"), none.getMessage());
        IllegalArgumentException outside = assertThrows(IllegalArgumentException.class,
                () -> decode(new int[]{-4}, SampledIds.ready(new int[]{1, 2, 3})));
        assertTrue(outside.getMessage().contains("row 3") && outside.getMessage().contains("3 rows"), outside.getMessage());
    }
}
