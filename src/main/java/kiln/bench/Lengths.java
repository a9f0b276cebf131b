package kiln.bench;

import java.util.random.RandomGenerator;

/** Request lengths drawn as SGLang's compute_random_lens draws them. */
public final class Lengths {
    private Lengths() {}

    /**
     * {@code count} lengths, each uniform over the integers in [max(floor(full * ratio), 1), full]; all 0 when
     * {@code full} is 0. Ratio 1 gives exactly {@code full} every time, ratio 0 anything from 1 to {@code full}.
     */
    public static int[] sample(int full, double ratio, int count, RandomGenerator rng) {
        int[] out = new int[count];
        if (full <= 0) return out;
        int low = Math.max((int) Math.floor(full * ratio), 1);
        for (int i = 0; i < count; i++) out[i] = rng.nextInt(low, full + 1);
        return out;
    }
}
