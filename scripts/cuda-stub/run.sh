#!/usr/bin/env bash
# Runs a command against host-only stand-ins for libcuda.so.1, libcublasLt.so.13 and libnccl.so.2 (device memory = host
# memory, launches do nothing): on a machine without a GPU this exercises every binding, launch argument list,
# arena and graph-runner path of the CUDA backend, so plumbing errors show before a device call. Results are
# meaningless (kernels do not run); exceptions are not. Example:
#   scripts/cuda-stub/run.sh java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
#       -cp "target/classes:target/test-classes:$(cat cp.txt)" kiln.backend.cuda.CudaKernelCheck rmsnorm linear
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${TMPDIR:-/tmp}/kiln-cuda-stub
mkdir -p "$out"
if [[ ! -f $out/libcuda.so.1 || $here/cuda_stub.c -nt $out/libcuda.so.1 || $here/lt_stub.c -nt $out/libcublasLt.so.13
      || $here/nccl_stub.c -nt $out/libnccl.so.2 ]]; then
  gcc -shared -fPIC -O1 -o "$out/libcuda.so.1" "$here/cuda_stub.c"
  gcc -shared -fPIC -O1 -o "$out/libcublasLt.so.13" "$here/lt_stub.c"
  gcc -shared -fPIC -O1 -o "$out/libnccl.so.2" "$here/nccl_stub.c"
fi
LD_LIBRARY_PATH=$out${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec "$@"
