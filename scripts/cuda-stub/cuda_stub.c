// Host-only stand-in for libcuda / libcublasLt: exercises Kiln's Java bindings (types, call order) without a GPU.
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <stdint.h>
typedef unsigned long long u64;
static int launches;
int cuGetErrorName(int e, const char **s) { *s = "CUDA_STUB_ERROR"; return 0; }
int cuGetErrorString(int e, const char **s) { *s = "stub"; return 0; }
int cuInit(unsigned f) { return 0; }
int cuDriverGetVersion(int *v) { *v = 13000; return 0; }
// KILN_STUB_DEVICES=N pretends N devices (all sharing the one memory range): NCCL ranks on several GPUs, host paths only
int cuDeviceGetCount(int *n) { const char *e = getenv("KILN_STUB_DEVICES"); *n = e && atoi(e) > 0 ? atoi(e) : 1; return 0; }
int cuDeviceGet(int *d, int o) { *d = o; return 0; }
int cuDeviceGetName(char *n, int len, int d) { strncpy(n, "Stub GPU", len); return 0; }
int cuDeviceGetAttribute(int *v, int a, int d) { *v = a == 16 ? 132 : a == 75 ? 9 : a == 76 ? 0 : a == 38 ? 50331648 : a == 97 ? 232448 : 1; return 0; }
int cuDeviceTotalMem_v2(size_t *b, int d) { *b = 80ULL << 30; return 0; }
int cuDevicePrimaryCtxRetain(void **c, int d) { *c = (void *)0x1234; return 0; }
int cuDevicePrimaryCtxRelease_v2(int d) { fprintf(stderr, "[stub] %d launches\n", launches); return 0; }
int cuCtxSetCurrent(void *c) { return 0; }
int cuMemGetInfo_v2(size_t *f, size_t *t) { *f = 70ULL << 30; *t = 80ULL << 30; return 0; }
// Device memory: a bump allocator over one reserved range at a fixed address, so that two runs making the same
// allocations get the same addresses and their launch traces (-Dkiln.cuda.trace) compare line by line. Freed
// ranges give their pages back but their addresses are never reused.
#include <sys/mman.h>
#define STUB_BASE 0x200000000000ULL
#define STUB_SPAN (1ULL << 42)
static char *device_base;
static size_t device_used;
static struct { u64 p; size_t n; } device_blocks[1 << 16];
static int device_block_count;
int cuMemAlloc_v2(u64 *p, size_t n) {
  if (!device_base) {
    void *m = mmap((void *)STUB_BASE, STUB_SPAN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (m == MAP_FAILED) return 2;
    device_base = m;
  }
  size_t start = (device_used + 255) & ~(size_t)255;
  if (start + n > STUB_SPAN) return 2;
  device_used = start + n;
  *p = (u64)(device_base + start);
  if (device_block_count < (1 << 16)) { device_blocks[device_block_count].p = *p; device_blocks[device_block_count++].n = n; }
  return 0; }
int cuMemFree_v2(u64 p) {
  for (int i = 0; i < device_block_count; i++) {
    if (device_blocks[i].p != p) continue;
    u64 a = (p + 4095) & ~4095ULL, e = (p + device_blocks[i].n) & ~4095ULL;  // whole pages of this block only
    if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);
    break;
  }
  return 0; }
int cuMemAllocHost_v2(void **p, size_t n) { *p = calloc(1, n); return *p ? 0 : 2; }
int cuMemFreeHost(void *p) { free(p); return 0; }
int cuMemcpyHtoDAsync_v2(u64 d, const void *s, size_t n, void *st) { memcpy((void *)d, s, n); return 0; }
int cuMemcpyDtoHAsync_v2(void *d, u64 s, size_t n, void *st) { memcpy(d, (void *)s, n); return 0; }
int cuMemcpyDtoDAsync_v2(u64 d, u64 s, size_t n, void *st) { memmove((void *)d, (void *)s, n); return 0; }
int cuMemsetD8Async(u64 d, unsigned char v, size_t n, void *st) { memset((void *)d, v, n); return 0; }
int cuModuleLoadData(void **m, const void *img) { *m = (void *)0x5678; return 0; }
int cuModuleUnload(void *m) { return 0; }
int cuModuleGetFunction(void **f, void *m, const char *name) { *f = strdup(name); return 0; }
int cuFuncSetAttribute(void *f, int a, int v) { return 0; }
int cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned smem, void *st, void **params, void **extra) {
  if (!params || !params[0]) { fprintf(stderr, "[stub] %s launched without params\n", (char *)f); return 1; }
  launches++; return 0; }
typedef struct { unsigned gx, gy, gz, bx, by, bz, smem; void *stream; void *attrs; unsigned nattrs; } LaunchConfig;
int cuLaunchKernelEx(const LaunchConfig *c, void *f, void **params, void **extra) {
  if (!c || !c->stream) { fprintf(stderr, "[stub] %s launched without a config or stream\n", (char *)f); return 1; }
  return cuLaunchKernel(f, c->gx, c->gy, c->gz, c->bx, c->by, c->bz, c->smem, c->stream, params, extra); }
static int streams;
int cuStreamCreate(void **s, unsigned f) { *s = (void *)(0x9 + 0x10 * (long)streams++); return 0; }
int cuStreamWaitEvent(void *s, void *e, unsigned f) { return e ? 0 : 1; }
int cuStreamSynchronize(void *s) { return 0; }
int cuStreamDestroy_v2(void *s) { return 0; }
int cuEventCreate(void **e, unsigned f) { *e = malloc(8); return 0; }
int cuEventRecord(void *e, void *s) { return 0; }
int cuEventSynchronize(void *e) { return 0; }
int cuEventElapsedTime_v2(float *ms, void *a, void *b) { *ms = 1.0f; return 0; }
int cuEventDestroy_v2(void *e) { free(e); return 0; }
int cuStreamBeginCapture_v2(void *s, int mode) { return 0; }
int cuStreamEndCapture(void *s, void **g) { *g = (void *)0x77; return 0; }
int cuGraphInstantiateWithFlags(void **e, void *g, u64 f) { *e = (void *)0x78; return 0; }
int cuGraphLaunch(void *e, void *s) { return 0; }
int cuGraphExecDestroy(void *e) { return 0; }
int cuGraphDestroy(void *g) { return 0; }
