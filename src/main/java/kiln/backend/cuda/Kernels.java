package kiln.backend.cuda;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * Kiln's kernels module (classpath resource kiln/cuda/kernels.fatbin, built from src/main/cuda by nvcc) on one
 * device, and the launcher the typed {@code *Kernels} classes go through. Argument values go into one reusable
 * native buffer whose pointer array is fixed, so a launch allocates nothing; only the device's owner thread launches.
 *
 * <p>The first launch of each entry point compares the argument list Java passed (count, and 4 or 8 bytes each)
 * with the one the loaded module declares (cuFuncGetParamInfo), so a Java launcher and a .cuh signature that
 * disagree fail loudly instead of corrupting memory; KernelSignaturesTest makes the same comparison against the
 * sources without a GPU.
 *
 * <p>On Hopper, kernels are launched with programmatic dependent launch (PDL): a kernel may be scheduled while
 * its predecessor in the stream still runs, and every Kiln kernel starts with {@code griddepcontrol.wait}
 * (common.cuh, KILN_ENTRY) before it touches memory, so the overlap hides launch latency and the ramp of each
 * short decode kernel without changing results ({@link CudaFlags#pdl}). With {@link CudaFlags#syncEachLaunch} every
 * launch is followed by a stream synchronisation, so an illegal address or a trap is reported against the kernel
 * that caused it.
 */
final class Kernels implements KernelLauncher, KernelLauncher.Launch, AutoCloseable {
    static final String RESOURCE = "/kiln/cuda/kernels.fatbin";
    private static final int MAX_ARGS = 40;
    private static final byte PTR = 'p', I64 = 'l', I32 = 'i', F32 = 'f';

    private final CudaDevice device;
    private final CudaFlags flags;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment module;
    private final Map<String, MemorySegment> functions = new HashMap<>();
    private final Map<String, Integer> sharedLimit = new HashMap<>();
    private final Set<String> verified = new HashSet<>();
    private final MemorySegment params, values;
    private final byte[] types = new byte[MAX_ARGS];
    /** A CUlaunchConfig with one attribute (programmatic stream serialization), or null without PDL. */
    private final MemorySegment launchConfig;
    private final PrintStream trace;
    /** PDL in use (benchmarks compare both; graphs captured before a change keep what they were captured with). */
    private boolean pdlOn;
    /** The driver describes kernel parameters (false: signatures go unchecked). */
    private boolean paramInfo = true;
    /** Kernels not launched at all (benchmarks only: their cost inside a graph is the step time they add). */
    private Set<String> skipped = Set.of();
    private MemorySegment fn;
    private String fnName;
    private int n;
    boolean capturing;

    static boolean resourcePresent() {
        return Kernels.class.getResource(RESOURCE) != null;
    }

    /** The kernels' image: the classpath resource, or another build of them ({@link CudaFlags#fatbin}, device experiments). */
    private static byte[] image(String file) {
        if (file != null) {
            try {
                return Files.readAllBytes(Path.of(file));
            } catch (IOException e) {
                String why = e instanceof NoSuchFileException ? "no such file" : e.getMessage();
                throw new CudaException("cannot read the kernels of -Dkiln.cuda.fatbin=" + file + ": " + why, e);
            }
        }
        try (InputStream in = Kernels.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new CudaException("classpath resource " + RESOURCE + " is missing: this build ran without nvcc "
                        + "(build on a machine with the CUDA toolkit, or use --device cpu)");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new CudaException("cannot read " + RESOURCE + ": " + e.getMessage(), e);
        }
    }

    Kernels(CudaDevice device, CudaFlags flags) {
        this.device = device;
        this.flags = flags;
        byte[] image = image(flags.fatbin());
        MemorySegment img = arena.allocate(image.length + 1L, 64);
        MemorySegment.copy(image, 0, img, ValueLayout.JAVA_BYTE, 0, image.length);
        module = Driver.loadModule(img);
        params = arena.allocate(8L * MAX_ARGS, 8);
        values = arena.allocate(8L * MAX_ARGS, 8);
        for (int i = 0; i < MAX_ARGS; i++) params.setAtIndex(ValueLayout.ADDRESS, i, values.asSlice(8L * i, 8));
        launchConfig = flags.pdl() && device.ccMajor >= 9 ? Driver.programmaticLaunchConfig(arena) : null;
        pdlOn = launchConfig != null;
        try {
            trace = flags.trace() == null ? null
                    : new PrintStream(new FileOutputStream(flags.trace(), true), true, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new CudaException("cannot open the launch trace -Dkiln.cuda.trace=" + flags.trace() + ": " + e.getMessage(), e);
        }
    }

    boolean pdl() {
        return pdlOn;
    }

    void setPdl(boolean on) {
        pdlOn = on && launchConfig != null;
    }

    /**
     * Launches of these kernels return at once from now on: results become meaningless, step times show what
     * each kernel costs where it runs (a replayed graph, with PDL and the side stream). Never a kernel whose output
     * indexes memory (routing, metadata).
     */
    void skip(Set<String> names) {
        skipped = Set.copyOf(names);
    }

    private MemorySegment function(String name) {
        MemorySegment f = functions.get(name);
        if (f == null) {
            f = Driver.function(module, name);
            functions.put(name, f);
        }
        return f;
    }

    @Override
    public Launch fn(String name) {
        if (!device.onOwnerThread()) throw new IllegalStateException("kernel " + name + " launched off the device thread");
        fn = function(name);
        fnName = name;
        n = 0;
        return this;
    }

    private int next(byte type) {
        if (n == MAX_ARGS) throw new IllegalStateException(fnName + ": more than " + MAX_ARGS + " arguments");
        types[n] = type;
        return n++;
    }

    @Override
    public Launch ptr(long p) {
        values.setAtIndex(ValueLayout.JAVA_LONG, next(PTR), p);
        return this;
    }

    @Override
    public Launch i64(long v) {
        values.setAtIndex(ValueLayout.JAVA_LONG, next(I64), v);
        return this;
    }

    @Override
    public Launch i32(int v) {
        values.set(ValueLayout.JAVA_INT, 8L * next(I32), v);
        return this;
    }

    @Override
    public Launch f32(float v) {
        values.set(ValueLayout.JAVA_FLOAT, 8L * next(F32), v);
        return this;
    }

    @Override
    public void launch(int gx, int gy, int gz, int block, int sharedBytes) {
        if (gx <= 0 || gy <= 0 || gz <= 0) return;  // nothing to do (e.g. zero rows)
        if (!verified.contains(fnName)) verifySignature();
        if (trace != null) trace(gx, gy, gz, block, sharedBytes);
        if (!skipped.isEmpty() && skipped.contains(fnName)) return;
        if (gy > 65535 || gz > 65535) throw new IllegalArgumentException(fnName + ": grid " + gx + "x" + gy + "x" + gz + " exceeds 65535 in y or z");
        if (sharedBytes > 48 * 1024) {
            Integer set = sharedLimit.get(fnName);
            if (set == null || set < sharedBytes) {
                if (sharedBytes > device.maxSharedPerBlock) {
                    throw new CudaException(fnName + " needs " + sharedBytes + " bytes of shared memory, the device allows " + device.maxSharedPerBlock);
                }
                Driver.setFunctionAttribute(fn, Driver.FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, sharedBytes, fnName);
                sharedLimit.put(fnName, sharedBytes);
            }
        }
        int rc = pdlOn ? Driver.launchEx(launchConfig, fn, gx, gy, gz, block, sharedBytes, device.stream(), params)
                : Driver.launch(fn, gx, gy, gz, block, 1, 1, sharedBytes, device.stream(), params);
        if (rc != 0) {
            throw new CudaException((pdlOn ? "cuLaunchKernelEx(" : "cuLaunchKernel(") + fnName + ", grid " + gx + "x" + gy + "x" + gz + ", block " + block
                    + ", " + sharedBytes + " B shared) failed: " + Driver.describe(rc));
        }
        if (flags.syncEachLaunch() && !capturing) Driver.synchronize(device.stream(), "kernel " + fnName + " (grid " + gx + "x" + gy + "x" + gz + ")");
    }

    /** The arguments' types as Java passed them: p pointer, l long, i int, f float. */
    private String passedTypes() {
        return new String(types, 0, n, StandardCharsets.US_ASCII);
    }

    /** Compares this launch's argument list with the entry point's declaration in the loaded module. */
    private void verifySignature() {
        verified.add(fnName);
        if (!paramInfo) return;
        long[] declared = Driver.paramSizes(fn, fnName);
        if (declared == null || declared.length == 0 && n > 0) {
            paramInfo = false;  // an older driver, or one that does not describe parameters: nothing to compare
            return;
        }
        boolean same = declared.length == n;
        for (int i = 0; same && i < n; i++) same = declared[i] == (types[i] == I32 || types[i] == F32 ? 4 : 8);
        if (!same) {
            throw new CudaException("kernel " + fnName + ": Java passes " + n + " arguments (" + passedTypes() + "; p/l 8 bytes, i/f 4) but the loaded module "
                    + "declares " + declared.length + " of " + java.util.Arrays.toString(declared) + " bytes: its launcher and its .cuh disagree");
        }
    }

    private void trace(int gx, int gy, int gz, int block, int sharedBytes) {
        StringBuilder s = new StringBuilder(fnName).append(' ').append(gx).append('x').append(gy).append('x').append(gz)
                .append(" b").append(block).append(" s").append(sharedBytes).append(capturing ? " captured" : "");
        for (int i = 0; i < n; i++) {
            s.append(' ').append((char) types[i]).append(':');
            switch (types[i]) {
                case PTR -> s.append(Long.toHexString(values.getAtIndex(ValueLayout.JAVA_LONG, i)));
                case I64 -> s.append(values.getAtIndex(ValueLayout.JAVA_LONG, i));
                case I32 -> s.append(values.get(ValueLayout.JAVA_INT, 8L * i));
                default -> s.append(values.get(ValueLayout.JAVA_FLOAT, 8L * i));
            }
        }
        trace.println(s);
    }

    @Override
    public void close() {
        if (trace != null) trace.close();
        Driver.unloadModule(module);
        arena.close();
    }
}
