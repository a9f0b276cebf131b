package kiln.cli;

import kiln.backend.cpu.MemoryBandwidth;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/** {@code kiln bandwidth}: the memory bandwidth CPU decode is compared with (docs/performance.md). */
@Command(name = "bandwidth", mixinStandardHelpOptions = true,
        description = "Measure memory read and copy bandwidth with the CPU kernels' threads.")
final class BandwidthCommand implements Callable<Integer> {
    @Option(names = "--gib", defaultValue = "1", description = "Buffer size in GiB (default: ${DEFAULT-VALUE}).")
    int gib;

    @Option(names = "--repeats", defaultValue = "5", description = "Best of this many passes (default: ${DEFAULT-VALUE}).")
    int repeats;

    @Override
    public Integer call() {
        MemoryBandwidth.Result r = MemoryBandwidth.measure((long) gib << 30, repeats);
        System.out.printf("{\"read_gbps\": %.2f, \"copy_gbps\": %.2f, \"bytes\": %d}%n", r.readGBps(), r.copyGBps(), r.bytes());
        return 0;
    }
}
