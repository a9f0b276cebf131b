package kiln.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One .safetensors file, memory-mapped whole (FFM: no 2 GB limit, nothing copied to the heap).
 * Layout: u64 little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then the data.
 */
public final class SafeTensors {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path path;
    private final Map<String, TensorData> tensors = new LinkedHashMap<>();

    private SafeTensors(Path path) {
        this.path = path;
    }

    public Path path() {
        return path;
    }

    public Map<String, TensorData> tensors() {
        return tensors;
    }

    /** Maps {@code path} into {@code arena}; every tensor is checked to lie inside the file. */
    public static SafeTensors open(Path path, Arena arena) {
        SafeTensors st = new SafeTensors(path);
        String file = path.toString();
        MemorySegment all;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new CheckpointException(file + ": truncated safetensors file (" + size + " bytes)");
            all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(file + ": file not found");
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
        long headerLen = all.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLen <= 0 || 8 + headerLen > all.byteSize()) {
            throw new CheckpointException(file + ": truncated or corrupt safetensors header (header length "
                    + headerLen + ", file size " + all.byteSize() + ")");
        }
        byte[] headerBytes = all.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
        JsonNode header;
        try {
            header = JSON.readTree(new String(headerBytes, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new CheckpointException(file + ": safetensors header is not valid JSON (" + e.getMessage() + ")");
        }
        long dataStart = 8 + headerLen;
        long dataLen = all.byteSize() - dataStart;
        for (Iterator<Map.Entry<String, JsonNode>> it = header.properties().iterator(); it.hasNext(); ) {
            var e = it.next();
            String name = e.getKey();
            if (name.equals("__metadata__")) continue;
            JsonNode t = e.getValue();
            DType dtype = DType.parse(t.path("dtype").asText());
            if (dtype == null) {
                throw new CheckpointException(file + ": tensor " + name + " has unsupported dtype "
                        + t.path("dtype").asText());
            }
            JsonNode shapeNode = t.path("shape");
            long[] shape = new long[shapeNode.size()];
            long numel = 1;
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shapeNode.get(i).asLong();
                numel *= shape[i];
            }
            long begin = t.path("data_offsets").path(0).asLong(-1);
            long end = t.path("data_offsets").path(1).asLong(-1);
            if (begin < 0 || end < begin || end - begin != numel * dtype.bytes) {
                throw new CheckpointException(file + ": tensor " + name + " has inconsistent data_offsets ["
                        + begin + ", " + end + ") for " + dtype + java.util.Arrays.toString(shape));
            }
            if (end > dataLen) {
                throw new CheckpointException(file + ": truncated: tensor " + name + " ends at byte "
                        + (dataStart + end) + " but the file has " + all.byteSize() + " bytes");
            }
            st.tensors.put(name, new TensorData(name, dtype, shape, all.asSlice(dataStart + begin, end - begin), file));
        }
        return st;
    }
}
