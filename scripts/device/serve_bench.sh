#!/usr/bin/env bash
# Device harness, section serve-bench (called by run.sh with JAVA, JOPTS_STR, CP, OUT and SERVE_BENCH_END set):
# `kiln serve --device cuda` on DeepSeek-V2-Lite dummy weights, then `kiln bench` (sglang backend, random 3,200 in
# / 800 out, range ratio 1) at concurrency 1, 2, 4, ... 64 with max(4, 2C) prompts, each run's JSON line appended
# to $OUT/serve.jsonl and its result block to the log; stops starting runs when the time left cannot hold the next
# one (estimated from the last); prints the table and the largest concurrency whose median ITL stays under 50 ms.
#
# The dummy model takes vocab_size 129280 (V3's) so that the bundled DeepSeek-V3 tokenizer's ids fit its
# embedding; V2-Lite's own vocabulary is 102,400 (+0.2 GB of embedding and LM head, about 1% of a decode step).
set -uo pipefail
: "${JAVA:?}" "${CP:?}" "${OUT:?}" "${SERVE_BENCH_END:?}"
read -ra JOPTS <<<"${JOPTS_STR:-}"
port=${KILN_SERVE_PORT:-30000}
conc=${KILN_SERVE_CONCURRENCY:-1 2 4 8 16 32 64}
model=${KILN_SERVE_MODEL:-configs/deepseek-v2-lite.json}
in_len=${KILN_SERVE_INPUT:-3200} out_len=${KILN_SERVE_OUTPUT:-800}
tok=/tmp/kiln-tokenizer
log=/tmp/kiln-serve.log
kiln_jar=${CP%%:*}

say() { echo "[serve-bench] $(date -u +%T) $*"; }
left() { echo $(( SERVE_BENCH_END - $(date +%s) )); }
# shellcheck source=serve_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"

extract_tokenizer "$kiln_jar" "$tok" || { say "cannot extract the tokenizer from kiln.jar"; exit 1; }

# KILN_SERVE_CONFIGS="tag=flags[@C C ...];...": one server per configuration (the flags added to its command line; -D
# options to its JVM),
# each benched into serve.jsonl under its own tag, at its own concurrencies after '@' or else KILN_SERVE_CONCURRENCY's;
# default: one configuration, untagged
IFS=';' read -r -a configs <<< "${KILN_SERVE_CONFIGS:-=}"
rm -f "$OUT/serve.jsonl"
server=
trap stop_server EXIT

for config in "${configs[@]}"; do
  ctag=${config%%=*}; ctag=${ctag# }
  rest=${config#*=}
  cconc=$conc
  [[ $rest == *@* ]] && { cconc=${rest#*@}; rest=${rest%%@*}; }
  read -r -a cflags <<< "$rest"
  # -D options of a configuration go to the JVM (kernel switches, kiln.cuda.*), the rest to kiln serve
  jflags=() sflags=()
  for f in ${cflags[@]+"${cflags[@]}"}; do if [[ $f == -D* ]]; then jflags+=("$f"); else sflags+=("$f"); fi; done
  tag="kiln v2-lite dummy bf16${ctag:+ $ctag}"
  say "starting kiln serve --device cuda ($model, dummy weights${ctag:+, $ctag: ${cflags[*]}}); log in $log"
  "$JAVA" "${JOPTS[@]}" ${jflags[@]+"${jflags[@]}"} -cp "$CP" kiln.cli.Main serve --device cuda --model-path "$model" --load-format dummy \
    --json-model-override-args '{"vocab_size": 129280}' --tokenizer-path "$tok" --host 127.0.0.1 --port "$port" \
    --cuda-graph-max-bs 64 --max-running-requests 64 --enable-metrics ${KILN_SERVE_ARGS:-} ${sflags[@]+"${sflags[@]}"} >"$log" 2>&1 &
  server=$!

  t0=$(date +%s)
  wait_healthy 60 || exit 1
  say "server ready after $(( $(date +%s) - t0 )) s"
  grep -E 'max_total_num_tokens|CUDA graphs|Load weight end|cuBLASLt' "$log" | sed 's/^/[serve] /'

  # a quick functional check: one greedy /generate request, twice (same ids both times)
  python3 - "$port" <<'PY' || say "WARNING: the /generate check failed"
import json, sys, urllib.request
port = sys.argv[1]
body = json.dumps({"text": "The capital of France is", "sampling_params": {"temperature": 0, "max_new_tokens": 16}}).encode()
ids = []
for _ in range(2):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/generate", data=body, headers={"Content-Type": "application/json"})
    r = json.load(urllib.request.urlopen(req, timeout=120))
    ids.append(r.get("output_ids") or r.get("meta_info", {}).get("output_ids"))
    print("[serve-bench] /generate:", json.dumps(r)[:300])
print("[serve-bench] /generate greedy repeat:", "SAME" if ids[0] == ids[1] else "DIFFERENT", ids[0])
PY

  # shellcheck disable=SC2086  # the concurrencies are words
  bench_concurrencies "$OUT/serve.jsonl" "$tag" "${ctag:+$ctag: }" $cconc
  say "server log (last lines):"
  tail -n 15 "$log" | sed 's/^/[serve] /'
  # how many steps overlapped
  python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$port/metrics', timeout=5).read().decode())" 2>/dev/null \
    | grep -E '^kiln_(overlapped_steps|generation_tokens)_total' | sed 's/^/[serve] /'
  stop_server
done

[[ -f $OUT/serve.jsonl ]] || { say "no results"; exit 1; }
results_table "[serve-bench]" "$OUT/serve.jsonl"
