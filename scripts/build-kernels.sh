#!/usr/bin/env bash
# Compiles src/main/cuda into the classpath resource kiln/cuda/kernels.fatbin (sm_90a machine code + compute_90
# PTX). Run by Maven in generate-resources; without nvcc it prints one line and the build goes on (CPU only).
#   scripts/build-kernels.sh OUT_DIR        (Maven passes target/classes)
# Env: NVCC (default: nvcc on PATH or /usr/local/cuda/bin/nvcc), KILN_NVCC_FLAGS (extra flags), KILN_SKIP_CUDA=1.
# No -lineinfo by default: it tripled the fatbin (7.4 MB against 2.6) and the device payload has ~16.5 MiB to
# spend; KILN_NVCC_FLAGS=-lineinfo puts it back for a profiler run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/target/classes}/kiln/cuda
src=$root/src/main/cuda
fatbin=$out/kernels.fatbin

if [[ ${KILN_SKIP_CUDA:-0} == 1 ]]; then echo "kiln: KILN_SKIP_CUDA=1, CUDA kernels not built"; exit 0; fi
nvcc=${NVCC:-$(command -v nvcc || true)}
[[ -z $nvcc && -x /usr/local/cuda/bin/nvcc ]] && nvcc=/usr/local/cuda/bin/nvcc
if [[ -z $nvcc ]]; then
  echo "kiln: nvcc not found, CUDA kernels not built (the CUDA backend needs them; the CPU backend does not)"
  exit 0
fi
if [[ -f $fatbin && -z $(find "$src" "$0" -newer "$fatbin" -print -quit) ]]; then exit 0; fi
mkdir -p "$out"
echo "kiln: building CUDA kernels with $nvcc"
"$nvcc" -std=c++17 -O3 -fatbin \
  -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_90,code=compute_90 \
  ${KILN_NVCC_FLAGS:-} -o "$fatbin.tmp" "$src/kernels.cu"
mv "$fatbin.tmp" "$fatbin"
