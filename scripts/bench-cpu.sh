#!/usr/bin/env bash
# CPU figures for docs/performance.md: memory bandwidth, then decode (batch 1, 8, 32) and a 512-token prefill for
# the two dummy-weight configs the issues name, then the engine alone at several concurrencies. Run it on an idle
# machine; it prints one JSON line per measurement and the load average before and after.
#   scripts/bench-cpu.sh [OUT_DIR]      (default target/bench-cpu)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/bench-cpu}
mkdir -p "$out"
ids() { python3 -c "print(','.join(str(100 + i) for i in range($1)))"; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/summary.txt"
./kiln bandwidth --gib 2 2>/dev/null | tee -a "$out/summary.txt"
for model in deepseek-r1-distill-qwen-1.5b r1-arch-mini; do
  for batch in 1 8 32; do
    ./kiln generate --model-path configs/$model.json --load-format dummy --input-ids "$(ids 16)" \
      --max-new-tokens 32 --batch $batch --warmup 1 --json 2>/dev/null | tail -n 1 \
      | python3 -c "import json,sys; d=json.load(sys.stdin); d.pop('output_ids'); d.pop('text', None); d['model']='$model'; print(json.dumps(d))" \
      | tee -a "$out/summary.txt"
  done
  ./kiln generate --model-path configs/$model.json --load-format dummy --input-ids "$(ids 512)" \
    --max-new-tokens 2 --warmup 1 --json 2>/dev/null | tail -n 1 \
    | python3 -c "import json,sys; d=json.load(sys.stdin); d.pop('output_ids'); d.pop('text', None); d['model']='$model'; print(json.dumps(d))" \
    | tee -a "$out/summary.txt"
done
./kiln engine-bench --model-path configs/r1-arch-mini.json --concurrency 1,4,16,64 --input-len 128 --output-len 32 \
  2>/dev/null | tee -a "$out/summary.txt"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/summary.txt"
