#!/usr/bin/env bash
# Device harness, section r1-tp8 (called by run.sh with JAVA, JOPTS_STR, CP, OUT and R1_TP8_END set): issue 21's run
# in one call on a machine of 8 GPUs (nvidia-h200-x8). `kiln serve --tp 8` of DeepSeek-R1's real config
# (configs/deepseek-r1.json) with dummy FP8 weights, NCCL ranks on GPUs 0-7 and CUDA graphs, defaults otherwise;
# the load time and the KV pool from its log and /server_info; then `kiln bench` (sglang backend, random 3,200 in /
# 800 out, range ratio 1) at concurrency 1, 2, 4, ... 128 with max(4, 2C) prompts, each run's JSON line appended
# to $OUT/r1_tp8.jsonl, tagged with the server's --chunked-prefill-size (one sweep configuration each).
#
# Configurations: --chunked-prefill-size 8192 (SGLang's default) over KILN_R1_CONCURRENCY (default 1 2 4 ... 128);
# then, if the time left holds a second load and a run, 16384 over KILN_R1_CONCURRENCY_2 (default 128 64 16: the
# large batches first, where the chunk size trades prefill throughput against ITL). KILN_R1_CHUNKS="8192 16384"
# names them. A run is started only when the time left holds it (estimated from the one before, scaled by its
# prompts). The server log goes to $OUT/r1_tp8_server.log. At the end: the table per configuration, the largest
# concurrency whose median ITL stays under 50 ms, and `kiln sweep --report-only` (on the device when the payload
# carries the chart library, else the command to run here on the fetched JSONL).
#
# For a dry run of the script itself (no GPU): KILN_R1_DEVICE=cpu KILN_R1_TP=2 KILN_R1_MODEL=<a small config>
# KILN_R1_INPUT=64 KILN_R1_OUTPUT=16 with short concurrency lists; the defaults are issue 21's run.
set -uo pipefail
: "${JAVA:?}" "${CP:?}" "${OUT:?}" "${R1_TP8_END:?}"
read -ra JOPTS <<<"${JOPTS_STR:-}"
port=${KILN_SERVE_PORT:-30000}
conc1=${KILN_R1_CONCURRENCY:-1 2 4 8 16 32 64 128}
conc2=${KILN_R1_CONCURRENCY_2:-128 64 16}
chunks=${KILN_R1_CHUNKS:-8192 16384}
model=${KILN_R1_MODEL:-configs/deepseek-r1.json}
tp=${KILN_R1_TP:-8}
device=${KILN_R1_DEVICE:-cuda}
in_len=${KILN_R1_INPUT:-3200} out_len=${KILN_R1_OUTPUT:-800}
tok=/tmp/kiln-tokenizer
log=$OUT/r1_tp8_server.log
results=$OUT/r1_tp8.jsonl
kiln_jar=${CP%%:*}

say() { echo "[r1-tp8] $(date -u +%T) $*"; }
left() { echo $(( R1_TP8_END - $(date +%s) )); }
# shellcheck source=serve_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"

if [[ $device == cuda ]]; then
  gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')
  if (( gpus < tp )); then
    say "needs $tp GPUs, this machine has $gpus (run it on nvidia-h200-x8; KILN_R1_TP=N for a smaller group)"
    exit 2
  fi
  nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader | sed 's/^/[r1-tp8] gpu /'
fi
free -g | head -n 2 | sed 's/^/[r1-tp8] host /'

# the bundled DeepSeek tokenizer (R1's vocabulary), out of kiln.jar
extract_tokenizer "$kiln_jar" "$tok" || { say "cannot extract the tokenizer from kiln.jar"; exit 1; }

server=
trap stop_server EXIT

# start_server CHUNK: kiln serve --tp 8 with that --chunked-prefill-size; returns once /health answers
start_server() {
  local chunk=$1 t0
  say "starting kiln serve --device $device --tp $tp ($model, dummy weights, --chunked-prefill-size $chunk)"
  echo "==== --chunked-prefill-size $chunk" >>"$log"
  t0=$(date +%s)
  "$JAVA" "${JOPTS[@]}" -cp "$CP" kiln.cli.Main serve --device "$device" --tp "$tp" --model-path "$model" --load-format dummy \
    --tokenizer-path "$tok" --host 127.0.0.1 --port "$port" --chunked-prefill-size "$chunk" ${KILN_R1_SERVE_ARGS:-} >>"$log" 2>&1 &
  server=$!
  wait_healthy 30 || return 1
  load_s=$(( $(date +%s) - t0 ))
  say "server ready after ${load_s} s (JVM start, weights, KV pool, CUDA graphs, warm-up)"
  grep -E 'Load weight (begin|end)|Loading weights|KV Cache is allocated|CUDA graph|cuBLASLt|NCCL' "$log" | tail -n 12 | sed 's/^/[serve] /'
  python3 - "$port" <<'PY' || say "WARNING: /server_info did not answer"
import json, sys, urllib.request
info = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/server_info", timeout=10))
keys = ("tp_size", "max_total_num_tokens", "chunked_prefill_size", "max_running_requests", "cuda_graph_max_bs", "mem_fraction_static", "backend")
print("[r1-tp8] server_info:", json.dumps({k: info.get(k) for k in keys}))
PY
}

# sweep CHUNK CONCURRENCIES...: one kiln bench per concurrency while the time left holds it
sweep() {
  local chunk=$1; shift
  bench_concurrencies "$results" "kiln r1 tp$tp dummy chunk $chunk" "chunk $chunk, " "$@"
}

rm -f "$results" "$log"
first=1
for chunk in $chunks; do
  if (( ! first )); then
    # a second configuration needs another load (the first one's time) and at least one run
    if (( $(left) < load_s + 90 )); then say "no time for --chunked-prefill-size $chunk: $(left)s left, the load took ${load_s}s"; break; fi
    stop_server
  fi
  start_server "$chunk" || break
  if (( first )); then sweep "$chunk" $conc1; else sweep "$chunk" $conc2; fi
  first=0
done
stop_server

[[ -f $results ]] || { say "no results"; exit 1; }
results_table "[r1-tp8]" "$results"

kiln_lib=$(dirname "$kiln_jar")
if ls "$kiln_lib"/jfreechart-*.jar >/dev/null 2>&1; then
  "$JAVA" "${JOPTS[@]}" -cp "$CP" kiln.cli.Main sweep --report-only --output-file "$results" --report "$OUT/r1_tp8.html" 2>&1 \
    | grep -v '^WARNING: Using incubator'
else
  say "the report: here, ./kiln sweep --report-only --output-file FETCHED/r1_tp8.jsonl (the --serve payload leaves the chart library out)"
fi
