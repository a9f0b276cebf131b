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

# the bundled DeepSeek tokenizer, out of kiln.jar
rm -rf "$tok" && mkdir -p "$tok"
python3 - "$kiln_jar" "$tok" <<'PY' || { say "cannot extract the tokenizer from kiln.jar"; exit 1; }
import sys, zipfile, os, gzip
jar, out = sys.argv[1], sys.argv[2]
written = []
with zipfile.ZipFile(jar) as z:
    names = [n for n in z.namelist() if n.startswith("kiln/deepseek-tokenizer/") and not n.endswith("/")]
    for n in names:
        data, name = z.read(n), os.path.basename(n)
        if name.endswith(".gz"):  # tokenizer.json is stored gzipped in the jar
            data, name = gzip.decompress(data), name[:-3]
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        written.append(name)
print("tokenizer files:", ", ".join(sorted(written)))
PY

say "starting kiln serve --device cuda ($model, dummy weights); log in $log"
"$JAVA" "${JOPTS[@]}" -cp "$CP" kiln.cli.Main serve --device cuda --model-path "$model" --load-format dummy \
  --json-model-override-args '{"vocab_size": 129280}' --tokenizer-path "$tok" --host 127.0.0.1 --port "$port" \
  --cuda-graph-max-bs 64 --max-running-requests 64 ${KILN_SERVE_ARGS:-} >"$log" 2>&1 &
server=$!
stop_server() {
  if kill -0 "$server" 2>/dev/null; then
    kill "$server" 2>/dev/null
    for _ in $(seq 1 20); do kill -0 "$server" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$server" 2>/dev/null
  fi
  wait "$server" 2>/dev/null
}
trap stop_server EXIT

t0=$(date +%s)
until python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=2)" 2>/dev/null; do
  if ! kill -0 "$server" 2>/dev/null; then say "the server exited during start-up:"; tail -n 40 "$log"; exit 1; fi
  if (( $(left) < 60 )); then say "the server was not ready in time:"; tail -n 20 "$log"; exit 1; fi
  sleep 2
done
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

rm -f "$OUT/serve.jsonl"
last=0 last_p=0
for c in $conc; do
  p=$(( 2 * c < 4 ? 4 : 2 * c ))
  # the next run: at least the last one's time, more when it sends more prompts (prefill grows with them)
  est=$(( last == 0 ? 60 : last * p / (last_p > 0 ? last_p : p) ))
  (( est < last )) && est=$last
  if (( $(left) - 15 < est )); then
    say "stopping before concurrency $c: about ${est}s needed, $(left)s left"
    break
  fi
  say "concurrency $c, $p prompts ($in_len in / $out_len out)"
  t=$(date +%s)
  timeout -k 5 $(( $(left) - 10 )) "$JAVA" "${JOPTS[@]}" -cp "$CP" kiln.cli.Main bench --backend sglang --host 127.0.0.1 --port "$port" \
    --dataset-name random --random-input-len "$in_len" --random-output-len "$out_len" --random-range-ratio 1 --max-concurrency "$c" \
    --num-prompts "$p" --tokenizer "$tok" --output-file "$OUT/serve.jsonl" --tag "kiln v2-lite dummy bf16" --disable-tqdm \
    --ready-check-timeout-sec 0 2>&1 | grep -v '^WARNING: Using incubator'
  rc=${PIPESTATUS[0]}
  last=$(( $(date +%s) - t )) last_p=$p
  say "concurrency $c took ${last}s (rc $rc)"
  if ! kill -0 "$server" 2>/dev/null; then say "the server died:"; tail -n 40 "$log"; break; fi
  (( rc == 0 )) || break
done

say "server log (last lines):"
tail -n 15 "$log" | sed 's/^/[serve] /'
[[ -f $OUT/serve.jsonl ]] || { say "no results"; exit 1; }
python3 - "$OUT/serve.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("[serve-bench] %5s %6s %9s %10s %12s %12s %12s" % ("conc", "done", "req/s", "out tok/s", "med TTFT ms", "med ITL ms", "p99 ITL ms"))
best = None
for r in rows:
    c = r.get("max_concurrency")
    print("[serve-bench] %5s %6s %9.3f %10.1f %12.1f %12.2f %12.2f" % (c, r.get("completed"), r.get("request_throughput", 0),
          r.get("output_throughput", 0), r.get("median_ttft_ms", 0), r.get("median_itl_ms", 0), r.get("p99_itl_ms", 0)))
    if r.get("median_itl_ms", 1e9) < 50 and (best is None or c > best):
        best = c
print("[serve-bench] largest concurrency with median ITL under 50 ms: %s" % (best if best is not None else "none of those run"))
PY
