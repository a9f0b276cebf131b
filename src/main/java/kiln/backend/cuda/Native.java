package kiln.backend.cuda;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/** Downcall plumbing shared by the driver and cuBLASLt bindings: functions returning a C int status. */
final class Native {
    private Native() {}

    static final Linker LINKER = Linker.nativeLinker();
    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG;
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;
    static final java.lang.foreign.AddressLayout PTR = ValueLayout.ADDRESS;

    /** A function {@code int name(args...)} of {@code lib}; null when the library lacks it. */
    static MethodHandle status(SymbolLookup lib, String name, MemoryLayout... args) {
        return lib.find(name).map(a -> LINKER.downcallHandle(a, FunctionDescriptor.of(INT, args))).orElse(null);
    }

    static MethodHandle require(SymbolLookup lib, String libName, String name, MemoryLayout... args) {
        MethodHandle h = status(lib, name, args);
        if (h == null) throw new UnsatisfiedLinkError(libName + " has no symbol " + name);
        return h;
    }
}
