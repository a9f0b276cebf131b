#!/usr/bin/env python3
"""Summarises an `ncu --csv --metrics gpu__time_duration.sum` log of a CudaBench decode run: per kernel name the
count and mean device time, and the last eager step's kernels in launch order (what one decode step is made of,
without launch overhead: ncu serialises kernels)."""
import csv, sys, collections

rows = []
with open(sys.argv[1], newline="") as f:
    lines = [l for l in f if l.startswith('"')]  # ncu's own "==PROF==" lines are not CSV
for r in csv.DictReader(lines):
    if r.get("Metric Name") != "gpu__time_duration.sum":
        continue
    v = float(r["Metric Value"].replace(",", ""))
    unit = r.get("Metric Unit", "nsecond")
    us = v / 1000 if unit.startswith("n") else v * 1000 if unit.startswith("m") else v
    rows.append((r["Kernel Name"], us, r.get("Grid Size", ""), r.get("Block Size", "")))
print(f"[ncu] {len(rows)} kernels profiled")
agg = collections.OrderedDict()
for name, us, grid, block in rows:
    a = agg.setdefault(name, [0, 0.0])
    a[0] += 1
    a[1] += us
print("[ncu]  count   mean us   kernel")
for name, (n, tot) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
    print(f"[ncu] {n:6d} {tot / n:9.2f}   {name[:90]}")
tail = int(sys.argv[2]) if len(sys.argv) > 2 else 120
print(f"[ncu] last {tail} kernels in launch order (us, grid, block, name):")
total = 0.0
for name, us, grid, block in rows[-tail:]:
    total += us
    print(f"[ncu] {us:8.2f}  {grid:>14s} {block:>12s}  {name[:80]}")
print(f"[ncu] sum of the last {tail}: {total:.1f} us")
