// Host-only stand-in for libnccl.so.2: communicators are tokens, collectives of one rank copy send to recv (every
// rank's buffer is its own result), larger groups move nothing. Exercises Kiln's NCCL binding and call order only.
#include <string.h>
#include <stdlib.h>
typedef unsigned long long u64;
typedef struct { int nranks, rank; } Comm;
static int width(int dtype) { return dtype == 9 || dtype == 6 ? 2 : dtype == 8 || dtype == 4 || dtype == 5 ? 8 : dtype <= 1 ? 1 : 4; }
const char *ncclGetErrorString(int rc) { return rc ? "stub NCCL error" : "no error"; }
int ncclGetVersion(int *v) { *v = 22805; return 0; }
int ncclGetUniqueId(void *id) { memset(id, 7, 128); return 0; }
typedef struct { char internal[128]; } UniqueId;
int ncclCommInitRank(void **comm, int nranks, UniqueId id, int rank) {
  if (nranks < 1 || rank < 0 || rank >= nranks) return 4;  // ncclInvalidArgument
  Comm *c = malloc(sizeof(Comm)); c->nranks = nranks; c->rank = rank; *comm = c; return 0; }
int ncclCommDestroy(void *comm) { free(comm); return 0; }
int ncclCommAbort(void *comm) { free(comm); return 0; }
int ncclAllReduce(u64 send, u64 recv, size_t count, int dtype, int op, void *comm, void *stream) {
  if (!comm || !stream) return 4;
  if (send != recv) memmove((void *)recv, (void *)send, count * width(dtype));
  return 0; }
int ncclAllGather(u64 send, u64 recv, size_t count, int dtype, void *comm, void *stream) {
  if (!comm || !stream) return 4;
  Comm *c = comm;
  memmove((void *)(recv + (u64)c->rank * count * width(dtype)), (void *)send, count * width(dtype));
  return 0; }
int ncclBroadcast(u64 send, u64 recv, size_t count, int dtype, int root, void *comm, void *stream) {
  if (!comm || !stream) return 4;
  if (send != recv) memmove((void *)recv, (void *)send, count * width(dtype));
  return 0; }
