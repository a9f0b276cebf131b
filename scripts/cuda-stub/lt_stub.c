#include <string.h>
#include <stdint.h>
#include <stddef.h>
int cublasLtCreate(void **h) { *h = (void *)1; return 0; }
int cublasLtDestroy(void *h) { return 0; }
int cublasLtMatmulDescCreate(void **d, int c, int s) { *d = (void *)2; return 0; }
int cublasLtMatmulDescSetAttribute(void *d, int a, const void *b, size_t n) { return 0; }
int cublasLtMatmulDescDestroy(void *d) { return 0; }
int cublasLtMatrixLayoutCreate(void **l, int t, uint64_t r, uint64_t c, int64_t ld) { *l = (void *)3; return 0; }
int cublasLtMatrixLayoutSetAttribute(void *l, int a, const void *b, size_t n) { return 0; }
int cublasLtMatrixLayoutDestroy(void *l) { return 0; }
int cublasLtMatmulPreferenceCreate(void **p) { *p = (void *)4; return 0; }
int cublasLtMatmulPreferenceSetAttribute(void *p, int a, const void *b, size_t n) { return 0; }
int cublasLtMatmulPreferenceDestroy(void *p) { return 0; }
int cublasLtMatmulAlgoGetHeuristic(void *h, void *d, void *a, void *b, void *c, void *dd, void *p, int req, void *res, int *count) {
  memset(res, 0, 96); *count = 1; return 0; }
int cublasLtMatmul(void *h, void *d, const void *al, const void *A, void *ad, const void *B, void *bd, const void *be, const void *C, void *cd,
                   void *D, void *dd, const void *algo, void *ws, size_t wsn, void *st) { return 0; }
int cublasLtMatmulAlgoConfigGetAttribute(const void *algo, int attr, void *buf, size_t n, size_t *written) {
  memset(buf, 0, n); *written = n; return 0; }
const char *cublasLtGetStatusName(int s) { return "STUB"; }
