package kiln.backend.cpu;

import kiln.io.DType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

/**
 * One CPU linear layer alone: {@code Linear.forward} over several distinct FP8 (or bf16) matrices (about 1 GiB,
 * more than the caches hold, so every call streams its weights from memory; the fifth argument in MiB), both
 * cores, at a few token counts. Prints the weight bytes read per second, to set beside `kiln bandwidth`
 * (docs/performance.md, "CPU model runtime").
 * Not part of the test suite:
 * <pre>
 *   java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp target/classes:target/test-classes \
 *     kiln.backend.cpu.CpuLinearBench [TOKENS,...] [ROWS] [COLS] [fp8|bf16] [MiB]      (default 1,4,64 2048 7168 fp8 1024)
 * </pre>
 */
public final class CpuLinearBench {
    private CpuLinearBench() {}

    public static void main(String[] args) {
        String[] counts = (args.length > 0 ? args[0] : "1,4,64").split(",");
        int rows = args.length > 1 ? Integer.parseInt(args[1]) : 2048, cols = args.length > 2 ? Integer.parseInt(args[2]) : 7168;
        boolean bf16 = args.length > 3 && args[3].equals("bf16");
        int bytes = bf16 ? 2 : 1;
        // about 1 GiB of weights: more than the last-level cache (480 MiB on the Xeon VM), or the figures are the cache's
        long workingSet = (args.length > 4 ? Long.parseLong(args[4]) : 1024) << 20;
        int matrices = (int) Math.max(2, workingSet / ((long) rows * cols * bytes));
        Random random = new Random(1);
        CpuWeight[] weights = new CpuWeight[matrices];
        for (int i = 0; i < matrices; i++) {
            if (bf16) {
                MemorySegment data = Arena.global().allocate(2L * rows * cols, 64);
                for (long j = 0; j < (long) rows * cols; j++) {
                    data.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * j, (short) (Float.floatToRawIntBits((float) random.nextGaussian() * 0.02f) >>> 16));
                }
                weights[i] = new CpuWeight(DType.BF16, rows, cols, data, null, 0, 0, 0);
                continue;
            }
            MemorySegment data = Arena.global().allocate((long) rows * cols, 64);
            // dummy-like codes: exponents 3-10, either sign (no subnormals, no NaN)
            for (long j = 0; j < (long) rows * cols; j++) {
                data.set(ValueLayout.JAVA_BYTE, j, (byte) ((3 + random.nextInt(8)) << 3 | random.nextInt(8) | (random.nextBoolean() ? 0x80 : 0)));
            }
            int scaleCols = (cols + 127) / 128;
            float[] scales = new float[(rows + 127) / 128 * scaleCols];
            for (int j = 0; j < scales.length; j++) scales[j] = 0x1p120f * 0.001f * (1 + random.nextFloat());
            weights[i] = new CpuWeight(DType.F8_E4M3, rows, cols, data, scales, 128, 128, scaleCols);
        }
        for (String c : counts) {
            int tokens = Integer.parseInt(c.trim());
            CpuTensor x = CpuTensor.allocate(tokens, cols), out = CpuTensor.allocate(tokens, rows);
            for (int i = 0; i < x.data().length; i++) x.data()[i] = (float) random.nextGaussian();
            for (int round = 0; round < 6; round++) {  // the first rounds warm the JIT up
                int calls = Math.max(matrices, 400 / tokens);
                long t0 = System.nanoTime();
                for (int i = 0; i < calls; i++) Linear.forward(x, weights[i % matrices], null, out, true);
                double seconds = (System.nanoTime() - t0) / 1e9;
                if (round >= 3) {
                    System.out.printf("%s %dx%d, %d tokens: %.2f GB/s of weights, %.3f ms per call%n", bf16 ? "bf16" : "fp8", rows, cols, tokens,
                            (double) rows * cols * bytes * calls / seconds / 1e9, seconds / calls * 1e3);
                }
            }
        }
    }
}
