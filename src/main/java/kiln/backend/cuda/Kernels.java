package kiln.backend.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * Kiln's kernels module (classpath resource kiln/cuda/kernels.fatbin, built from src/main/cuda by nvcc) on one
 * device, and the launcher. Argument values go into one reusable native buffer whose pointer array is fixed,
 * so a launch allocates nothing; only the device's owner thread launches.
 *
 * <p>On Hopper, kernels are launched with programmatic dependent launch (PDL): a kernel may be scheduled while
 * its predecessor in the stream still runs, and every Kiln kernel starts with {@code griddepcontrol.wait}
 * (common.cuh, KILN_ENTRY) before it touches memory, so the overlap hides launch latency and the ramp of each
 * short decode kernel without changing results. {@code -Dkiln.cuda.pdl=false} launches plainly.
 *
 * <p>With {@code -Dkiln.cuda.sync=true} every launch is followed by a stream synchronisation, so an illegal
 * address or a trap is reported against the kernel that caused it (the device harness runs tests that way).
 */
final class Kernels implements AutoCloseable {
    static final String RESOURCE = "/kiln/cuda/kernels.fatbin";
    private static final int MAX_ARGS = 40;
    static final boolean SYNC_EACH_LAUNCH = Boolean.getBoolean("kiln.cuda.sync");
    static final boolean PDL = Boolean.parseBoolean(System.getProperty("kiln.cuda.pdl", "true"));

    private final CudaDevice device;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment module;
    private final Map<String, MemorySegment> functions = new HashMap<>();
    private final Map<String, Integer> sharedLimit = new HashMap<>();
    private final MemorySegment params, values;
    /** A CUlaunchConfig with one attribute (programmatic stream serialization), or null without PDL. */
    private final MemorySegment launchConfig;
    /** PDL in use (benchmarks compare both; graphs captured before a change keep what they were captured with). */
    private boolean pdlOn;
    /** Kernels not launched at all (benchmarks only: their cost inside a graph is the step time they add). */
    private Set<String> skipped = Set.of();
    private MemorySegment fn;
    private String fnName;
    private int n;
    boolean capturing;

    static boolean resourcePresent() {
        return Kernels.class.getResource(RESOURCE) != null;
    }

    /** The kernels' image: the classpath resource, or another build of them named by -Dkiln.cuda.fatbin (device experiments). */
    private static byte[] image() {
        String file = System.getProperty("kiln.cuda.fatbin");
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

    Kernels(CudaDevice device) {
        this.device = device;
        byte[] image = image();
        MemorySegment img = arena.allocate(image.length + 1L, 64);
        MemorySegment.copy(image, 0, img, ValueLayout.JAVA_BYTE, 0, image.length);
        module = Driver.loadModule(img);
        params = arena.allocate(8L * MAX_ARGS, 8);
        values = arena.allocate(8L * MAX_ARGS, 8);
        for (int i = 0; i < MAX_ARGS; i++) params.setAtIndex(ValueLayout.ADDRESS, i, values.asSlice(8L * i, 8));
        launchConfig = PDL && device.ccMajor >= 9 ? Driver.programmaticLaunchConfig(arena) : null;
        pdlOn = launchConfig != null;
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

    /** Starts a launch of kernel {@code name}; add arguments in declaration order, then {@link #launch}. */
    Kernels fn(String name) {
        if (!device.onOwnerThread()) throw new IllegalStateException("kernel " + name + " launched off the device thread");
        fn = function(name);
        fnName = name;
        n = 0;
        return this;
    }

    Kernels ptr(long p) {
        values.setAtIndex(ValueLayout.JAVA_LONG, n++, p);
        return this;
    }

    Kernels i64(long v) {
        values.setAtIndex(ValueLayout.JAVA_LONG, n++, v);
        return this;
    }

    Kernels i32(int v) {
        values.set(ValueLayout.JAVA_INT, 8L * n++, v);
        return this;
    }

    Kernels f32(float v) {
        values.set(ValueLayout.JAVA_FLOAT, 8L * n++, v);
        return this;
    }

    void launch(int gx, int gy, int gz, int block, int sharedBytes) {
        if (gx <= 0 || gy <= 0 || gz <= 0) return;  // nothing to do (e.g. zero rows)
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
        if (SYNC_EACH_LAUNCH && !capturing) Driver.synchronize(device.stream(), "kernel " + fnName + " (grid " + gx + "x" + gy + "x" + gz + ")");
    }

    void launch(int gx, int block) {
        launch(gx, 1, 1, block, 0);
    }

    @Override
    public void close() {
        Driver.unloadModule(module);
        arena.close();
    }
}
