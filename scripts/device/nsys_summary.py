#!/usr/bin/env python3
"""Summarises an Nsight Systems trace (exported to SQLite) of CudaBench decode graph replays: what ncu cannot show,
the kernels as they run inside a replayed graph, with programmatic dependent launch and the side stream on.

    nsys_summary.py TRACE.sqlite [KERNELS_PER_TABLE]

Prints, for the last full replayed step (the kernels from the second-to-last embedding launch to the last one; run
the bench with -Dkiln.bench.eager=false so that the replays come last): each kernel's start offset, duration, the idle time before it on the GPU (start minus the
latest end so far; negative when it overlaps), its stream and grid; then per kernel name the count and mean duration
over the whole trace's replays, and the step's wall time against the sum of its kernels."""
import collections, sqlite3, sys

db = sqlite3.connect(sys.argv[1])
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 200
names = dict(db.execute("SELECT id, value FROM StringIds"))
rows = db.execute("SELECT start, end, streamId, gridX, gridY, gridZ, shortName FROM CUPTI_ACTIVITY_KIND_KERNEL ORDER BY start").fetchall()
if not rows:
    sys.exit("[nsys] no kernels in the trace")
kernels = [(s, e, stream, f"({gx},{gy},{gz})", names.get(n, str(n))) for s, e, stream, gx, gy, gz, n in rows]

# every forward starts with the embedding lookup
starts = [i for i, k in enumerate(kernels) if k[4].startswith("embed")]
if len(starts) < 2:
    sys.exit(f"[nsys] {len(kernels)} kernels but {len(starts)} embedding launches: no full step to show")
steps = [kernels[a:b] for a, b in zip(starts, starts[1:])]
step = steps[-1]
t0, latest = step[0][0], step[0][0]
print(f"[nsys] {len(kernels)} kernels, {len(steps)} steps; the last full step: {len(step)} kernels, "
      f"{(max(k[1] for k in step) - t0) / 1000:.1f} us wall, {sum(k[1] - k[0] for k in step) / 1000:.1f} us of kernel time")
print("[nsys]   start us   dur us   idle us  stream  grid            kernel")
for i, (s, e, stream, grid, name) in enumerate(step):
    if i < limit:
        print(f"[nsys] {(s - t0) / 1000:9.2f} {(e - s) / 1000:8.2f} {(s - latest) / 1000:9.2f}  {stream:6d}  {grid:14s}  {name[:70]}")
    latest = max(latest, e)
agg = collections.OrderedDict()
for s, e, stream, grid, name in kernels:
    a = agg.setdefault(name, [0, 0])
    a[0] += 1
    a[1] += e - s
print("[nsys]  count   mean us   kernel (whole trace)")
for name, (n, tot) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
    print(f"[nsys] {n:6d} {tot / n / 1000:9.2f}   {name[:90]}")
