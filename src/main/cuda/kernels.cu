// Kiln's CUDA kernels: one translation unit, compiled by nvcc into kiln/cuda/kernels.fatbin (sm_90a code plus
// compute_90 PTX) and loaded by kiln.backend.cuda.Kernels with cuModuleLoadData. Each header holds its device code
// and, at its end, its extern "C" entry points; one Java class per header launches them (elementwise.cuh:
// ElementwiseKernels.java, ...). The suffix of an entry point names the activation type (_f32 / _bf16) and, for
// weights, the stored type (_wf32 / _wbf16 / _wfp8).
#include "common.cuh"
#include "elementwise.cuh"
#include "gemm.cuh"
#include "attention.cuh"
#include "moe.cuh"
#include "mla_decode.cuh"
#include "moe_mma.cuh"
#include "moe_staged.cuh"
#include "linear_mma.cuh"
#include "gemv2.cuh"
#include "mla_prefill.cuh"
#include "fused_decode.cuh"
#include "collective.cuh"
#include "logit_mask.cuh"
