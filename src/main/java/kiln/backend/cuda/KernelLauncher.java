package kiln.backend.cuda;

/**
 * Starts kernel launches by entry-point name: {@link Kernels} (the loaded module) on a device, a recorder in
 * KernelSignaturesTest. Only the typed launchers ({@code *Kernels} classes, one per .cuh file) call it, so each
 * kernel's argument list is written once on the Java side.
 */
interface KernelLauncher {
    Launch fn(String name);

    /** One launch being assembled: the arguments in the kernel's declaration order, then the grid. */
    interface Launch {
        /** A device pointer (8 bytes). */
        Launch ptr(long p);

        /** A C {@code long} (8 bytes). */
        Launch i64(long v);

        /** A C {@code int} (4 bytes). */
        Launch i32(int v);

        /** A C {@code float} (4 bytes). */
        Launch f32(float v);

        /** Launches grid (gx, gy, gz) of {@code block} threads; a zero or negative grid dimension launches nothing. */
        void launch(int gx, int gy, int gz, int block, int sharedBytes);

        default void launch(int gx, int block) {
            launch(gx, 1, 1, block, 0);
        }
    }
}
