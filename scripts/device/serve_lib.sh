# Device harness: what the serving sections (serve_bench.sh, r1_tp8.sh) share; sourced, not run. The caller sets
# JAVA, JOPTS (array), CP, port, in_len, out_len, tok, log, server (the server's pid) and defines say and left.

# extract_tokenizer JAR DIR: the bundled DeepSeek tokenizer out of kiln.jar into DIR (tokenizer.json un-gzipped)
extract_tokenizer() {
  rm -rf "$2" && mkdir -p "$2"
  python3 - "$1" "$2" <<'PY'
import sys, zipfile, os, gzip
jar, out = sys.argv[1], sys.argv[2]
written = []
with zipfile.ZipFile(jar) as z:
    for n in z.namelist():
        if not n.startswith("kiln/deepseek-tokenizer/") or n.endswith("/"):
            continue
        data, name = z.read(n), os.path.basename(n)
        if name.endswith(".gz"):  # tokenizer.json is stored gzipped in the jar
            data, name = gzip.decompress(data), name[:-3]
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        written.append(name)
print("tokenizer files:", ", ".join(sorted(written)))
PY
}

# stop_server: ends the server of pid $server, if any (SIGTERM, SIGKILL after 15 s), and forgets it
stop_server() {
  if [[ -n $server ]] && kill -0 "$server" 2>/dev/null; then
    kill "$server" 2>/dev/null
    for _ in $(seq 1 30); do kill -0 "$server" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$server" 2>/dev/null
  fi
  [[ -n $server ]] && wait "$server" 2>/dev/null
  server=
}

# wait_healthy MIN_LEFT: waits until the server's /health answers; returns 1, after the end of its log, when the
# server exits (it is then forgotten) or fewer than MIN_LEFT seconds remain
wait_healthy() {
  until python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=2)" 2>/dev/null; do
    if ! kill -0 "$server" 2>/dev/null; then say "the server exited during start-up:"; tail -n 40 "$log"; server=; return 1; fi
    if (( $(left) < $1 )); then say "the server was not ready in time:"; tail -n 20 "$log"; return 1; fi
    sleep 2
  done
}

# step_counters: the server's step counters from /metrics (needs --enable-metrics), one line of five numbers: prefill
# steps, their seconds, their prompt tokens, decode steps, their seconds (zeros when the scrape fails)
step_counters() {
  python3 - "$port" <<'PY'
import sys, urllib.request
names = ["kiln_prefill_steps_total", "kiln_prefill_step_seconds_total", "kiln_prefill_step_tokens_total", "kiln_decode_steps_total",
         "kiln_decode_step_seconds_total"]
v = dict.fromkeys(names, 0.0)
try:
    for line in urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode().splitlines():
        name = line.split("{")[0].split(" ")[0]
        if name in v: v[name] = float(line.rsplit(" ", 1)[1])
except Exception:
    pass
print(" ".join(repr(v[n]) for n in names))
PY
}

# step_means BEFORE AFTER: the served steps between two step_counters lines, as a sentence
step_means() {
  python3 - "$1" "$2" <<'PY'
import sys
a, b = [list(map(float, s.split())) for s in sys.argv[1:3]]
d = [y - x for x, y in zip(a, b)]
ps, pt, ptok, ds, dt = d
print(f"served steps: {ps:.0f} with prompt tokens, mean {1e3 * pt / ps if ps else 0:.1f} ms and {ptok / ps if ps else 0:.0f} prompt tokens each; "
      f"{ds:.0f} decode-only, mean {1e3 * dt / ds if ds else 0:.2f} ms")
PY
}

# bench_concurrencies RESULTS TAG LABEL C...: one kiln bench (sglang backend, random in_len / out_len, range ratio 1)
# per concurrency C with max(4, 2C) prompts, each JSON line appended to RESULTS with TAG, while the time left holds
# the next run (at least the last one's time, more when it sends more prompts: prefill grows with them). LABEL
# opens each progress line. Returns 1 when a run fails or the server dies.
bench_concurrencies() {
  local results=$1 tag=$2 label=$3; shift 3
  local last=0 last_p=0 c p est t rc before
  for c in "$@"; do
    p=$(( 2 * c < 4 ? 4 : 2 * c ))
    est=$(( last == 0 ? 60 : last * p / (last_p > 0 ? last_p : p) ))
    (( est < last )) && est=$last
    if (( $(left) - 15 < est )); then
      say "stopping before concurrency $c: about ${est}s needed, $(left)s left"
      break
    fi
    say "${label}concurrency $c, $p prompts ($in_len in / $out_len out)"
    before=$(step_counters)
    t=$(date +%s)
    timeout -k 5 $(( $(left) - 10 )) "$JAVA" "${JOPTS[@]}" -cp "$CP" kiln.cli.Main bench --backend sglang --host 127.0.0.1 --port "$port" \
      --dataset-name random --random-input-len "$in_len" --random-output-len "$out_len" --random-range-ratio 1 --max-concurrency "$c" \
      --num-prompts "$p" --tokenizer "$tok" --output-file "$results" --tag "$tag" --disable-tqdm \
      --ready-check-timeout-sec 0 2>&1 | grep -v '^WARNING: Using incubator'
    rc=${PIPESTATUS[0]}
    last=$(( $(date +%s) - t )) last_p=$p
    say "concurrency $c took ${last}s (rc $rc); $(step_means "$before" "$(step_counters)")"
    if ! kill -0 "$server" 2>/dev/null; then say "the server died:"; tail -n 40 "$log"; return 1; fi
    (( rc == 0 )) || return 1
  done
}

# results_table PREFIX RESULTS: per tag, each run's throughput and latencies in concurrency order, and the largest
# concurrency whose median ITL stays under 50 ms; every line starts with PREFIX
results_table() {
  python3 - "$1" "$2" <<'PY'
import json, sys
prefix, rows = sys.argv[1], [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
configs = {}
for r in rows:
    configs.setdefault(r.get("tag", "?"), []).append(r)
for tag, rs in configs.items():
    print("%s %s" % (prefix, tag))
    print("%s %5s %6s %9s %10s %12s %12s %12s" % (prefix, "conc", "done", "req/s", "out tok/s", "med TTFT ms", "med ITL ms", "p99 ITL ms"))
    best = None
    for r in sorted(rs, key=lambda r: r.get("max_concurrency", 0)):
        c = r.get("max_concurrency")
        print("%s %5s %6s %9.3f %10.1f %12.1f %12.2f %12.2f" % (prefix, c, r.get("completed"), r.get("request_throughput", 0),
              r.get("output_throughput", 0), r.get("median_ttft_ms", 0), r.get("median_itl_ms", 0), r.get("p99_itl_ms", 0)))
        if r.get("median_itl_ms", 1e9) < 50 and (best is None or c > best):
            best = c
    print("%s largest concurrency with median ITL under 50 ms: %s" % (prefix, best if best is not None else "none of those run"))
PY
}
