#!/usr/bin/env bash
# Kiln device harness, remote half (staged into .device/ by scripts/device.sh). On the GPU machine, from the
# repository root:   bash .device/run.sh [SECTION...]   (default: all; "quick" = env ceilings check fixtures generate)
# Sections, in the order they run:
#   env           GPU, driver, CUDA libraries, PyTorch
#   ceilings      PyTorch: device-to-device copy bandwidth, bf16 and FP8 matmul rates (feeds the decode floors)
#   check         GPU-vs-CPU checks of every op at R1/Llama shapes, both precisions, + a whole model with graphs
#                 (KILN_CHECK="moe mla": only the checks whose names contain one of the words; KILN_CHECK_CAP_S: its time
#                 cap, default 300 s)
#   fixtures      the fixture tests (HF float32 references) on the CUDA backend, eager and with CUDA graphs
#   generate      kiln generate --device cuda against --device cpu on a fixture (the CLI path)
#   engine        the engine tests alone on the CUDA backend (CudaEngineTest, CudaOverlapScheduleTest; fixtures
#                 deepseek-v3-tiny and qwen2-tiny), for a --serve --junit payload beside serve-bench
#   junit         the JUnit classes named in KILN_JUNIT_CLASSES (default kiln.engine.CudaConstrainedDecodingTest: no fixture,
#                 but the bundled tokenizer's Jinjava, so a --serve --junit payload)
#   bench-v2      decode (bs 1..128) and 4,096-token prefill of deepseek-v2-lite, dummy bf16
#   bench-r1      the same for deepseek-r1 cut to the layers that fit, dummy FP8
#   bench-v2-base V2-Lite decode bs 1 and 64 with the phase-3 kernels switched off (same-card baseline, tag "p2")
#   kernels       Kiln's FP8 linear, MLA decode and R1 MoE layer timings
#   torch-kernels PyTorch's timings of the same kernels
#   fp8           FP8 linear at R1 shapes and 1-4,096 rows, Kiln and PyTorch's blockwise _scaled_mm, each launched one after
#                 another and replayed from a CUDA graph; then every algorithm cuBLASLt's heuristic offers at 16-512 rows
#                 (CublasLtAlgoBench: the GEMM alone, graphed, with its tile, stages, cluster and split-K)
#   prefill-staged prefill of 512, 1,024 and 4,096 tokens of V2-Lite and R1 cut (KILN_STAGED_MODELS) with the default
#                 MoE kernels, then with moe_staged from 9 tokens (-Dkiln.cuda.moeStagedMinTokens=9, tag "staged"); `moe`
#                 times the layer alone with it too
#   mla           MLA decode alone (R1's 128 heads, 1-128 sequences, 1,024-16,384 keys): bf16 cache, FP8 cache
#                 (--kv-cache-dtype fp8_e4m3), generic kernel
#   moe           the MoE layer alone, R1 (FP8) and V2-Lite (bf16) shapes, 16 to 8,192 tokens, without and with moe_mma
#   prefill-v2-moe V2-Lite prefill of 512, 1,024 and 4,096 tokens with moe_mma up to 256 tokens (the default before
#                 2026-12-07) and for every size (KILN_MMA_CAPS="256 1000000" picks the limits)
#   prefill-cached V2-Lite prefill chunks of 512 and 1,024 tokens fresh and after 1,536 and 2,688 cached tokens (later chunks
#                 of a 3,200-token prompt, as chunked prefill serves them), per-op device time (eager, kiln.cuda.profile)
#   profile       per-op device time (-Dkiln.cuda.profile=true, eager) of V2-Lite decode bs 1 and 64 and prefill
#   profile-r1    the same for R1 cut to the layers that fit (FP8)
#   bench-v2-pdl  V2-Lite decode bs 1, 8, 64 with programmatic dependent launch off (tag "nopdl")
#   bench-v2-fuse V2-Lite decode bs 1, 8 with the decode fusions off (-Dkiln.cuda.fuseDecode=false, tag "unfused")
#   ncu-detail    Nsight Compute sections (speed of light, warp stalls, occupancy) of a few decode kernels
#   ncu-stalls    Nsight Compute's warp stall reasons (per issued instruction) of KILN_NCU_KERNELS (default the MLA decode)
#   ncu           Nsight Compute per-kernel device time of V2-Lite cut to 4 layers, decode bs 1 (ncu_summary.py;
#                 KILN_NCU_MODEL / KILN_NCU_LAYERS pick another cut)
#   ncu-r1        the same for R1 cut to 5 layers (3 dense + 2 MoE)
#   bench-v2-small V2-Lite decode bs 1 and 8 only (graphs), tagged with KILN_TAG; KILN_VARIANTS="tag=OPTS;tag=OPTS"
#                 runs it once per variant with those extra JVM options (same call, same card: for comparing switches)
#   bench-v2-skip V2-Lite decode bs 1 (graphs) with each of a list of kernel sets left out (KILN_SKIP, ';' between
#                 sets, ',' within): the step time each set saves is what its kernels cost inside a replayed graph
#                 (never the grouped gate/up without the down projection: that one reads the routing before its wait)
#   serve-bench   kiln serve --device cuda (V2-Lite dummy) + kiln bench 3200/800 at concurrency 1..64 (serve_bench.sh;
#                 KILN_SERVE_CONFIGS="tag=server flags;tag=flags" runs one server per configuration, e.g. overlap on/off)
#   tp-check      the tensor-parallel collectives against the host (virtual ranks 2, 3, 4; NCCL with one rank)
#   tp-fixtures   CudaTensorParallelFixtureTest: the fixture tests on virtual ranks at tp 2 and 4 and on NCCL with
#                 one rank, float32, eager and graphed
#   bench-v2-tp   V2-Lite decode bs 1, 8, 64 (graphs) and the 4,096-token prefill at tp 1, then at virtual tp 2 on
#                 the same GPU (a JVM each; KILN_TP_SIZES="1 2 4" picks others)
#   load-r1-rank0 kiln load --rank 0 of --tp 8 of DeepSeek-R1 (dummy FP8) alone on GPU 0: rank 0's weights, load time,
#                 host memory and KV pool (the whole 61 layers need an H200; KILN_R1_LAYERS=N cuts them for an H100)
#   gqa           the tensor-core GQA kernels (kiln.cuda.gqaPrefill, kiln.cuda.gqaTc): the gqa kernel checks (bf16: both
#                 kernels, bf16g: the generic one, bf16t: the decode kernel alone; "vs generic" rows: both kernels
#                 against the generic one on the same inputs), greedy ids of R1-Distill-Qwen-1.5B
#                 (dummy bf16, a 600-token prompt) with the switches off, the prefill one on and both on, and CudaBench decode +
#                 4,096-token prefill of the 8B shape with both off and both on
#   mid-batches   decode at 1-64 sequences with the defaults before linear_mma (tag "old": kiln.cuda.linearMmaMaxRows=1,
#                 linearMmaFp8=false, moeMmaMinTokens=9) and today's ("new"), the GQA kernels on: the 8B shape, V2-Lite,
#                 R1 cut. KILN_MID_MODELS="8b v2 r1" picks models; KILN_MID_EXTRA="tag=-Dopt|-Dopt ..." adds variants
#   peers         llama.cpp beside Kiln on the same GPU (issue 18): V2-Lite and the R1-Distill-Llama-8B shape, random bf16
#                 weights, vocabulary 129,280; llama-batched-bench (512-token prompts, 128 new, 1/8/32/64 sequences;
#                 one 4,096-token prompt) and CudaBench (decode at context 576, the same batch sizes; prefill 4,096).
#                 Needs .device/llama/: llama-bin.tar.xz (llama.cpp's build/bin, see docs/performance.md "Peers"),
#                 make_gguf.py and make_gguf_deepseek2.py (../shared/tools); writes GGUFs of 16-32 GB under /tmp.
#                 KILN_PEERS_SHAPES="v2" picks shapes; KILN_PEERS_KILN=0 runs llama.cpp alone
#   r1-tp8        issue 21 on 8 GPUs: kiln serve --tp 8 of DeepSeek-R1 (dummy FP8, graphs) + kiln bench 3200/800 at
#                 concurrency 1..128, chunked prefill 8192 then 16384 as time allows (r1_tp8.sh; --serve payload)
# Logs and results go to $OUT (run.log, check.txt, fixtures.txt, bench.jsonl, torch_*.json, serve.jsonl,
# tp-check.txt, tp-fixtures.txt, r1_tp8.jsonl, r1_tp8_server.log, summary.txt: 8 files at most come back, so a call runs sections writing no more); each section has a time cap and the whole run stops starting sections
# past KILN_DEVICE_BUDGET_S (default 560 s).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
case ${1:-} in -h|--help) sed -n '2,/^[^#]/p' "$here/$(basename "${BASH_SOURCE[0]}")" | grep '^#'; exit 0 ;; esac
OUT=${OUT:-$here/out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1
t_start=$(date +%s)
budget=${KILN_DEVICE_BUDGET_S:-560}
all=(env ceilings check fixtures generate bench-v2 bench-r1 kernels torch-kernels)
sections=()
for a in "${@:-all}"; do
  case $a in
    all) sections+=("${all[@]}") ;;
    quick) sections+=(env ceilings check fixtures generate) ;;
    *) sections+=("$a") ;;
  esac
done
summary=()

echo "== Kiln device harness: ${sections[*]} ($(date -u +%FT%TZ))"
kiln=/tmp/kiln-device
sum=$(cksum < "$here/payload.tar.xz")
if [[ ! -x $kiln/jre/bin/java || $(cat "$kiln/.payload" 2>/dev/null) != "$sum" ]]; then  # a warm machine may hold an older one
  rm -rf "$kiln" && mkdir -p "$kiln" && tar xJf "$here/payload.tar.xz" -C "$kiln" || { echo "cannot unpack payload.tar.xz"; exit 1; }
  echo "$sum" > "$kiln/.payload"
fi
JAVA=$kiln/jre/bin/java
CP="$kiln/lib/kiln.jar:$kiln/lib/kiln-tests.jar:$(ls "$kiln"/lib/*.jar | grep -v -e '/kiln.jar$' -e '/kiln-tests.jar$' -e junit-platform-console | tr '\n' ':')"
JOPTS=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xss4m -Xmx24g)
# KILN_JOPTS: extra JVM options for every Java section, e.g. KILN_JOPTS="-Dkiln.cuda.moeMma=false" (fallback runs)
if [[ -n ${KILN_JOPTS:-} ]]; then read -r -a extra_jopts <<< "$KILN_JOPTS"; JOPTS+=("${extra_jopts[@]}"); fi
# checks run with a stream synchronisation after every launch, so a fault names its kernel; benchmarks do not.
# KILN_SYNC=0 runs them unsynchronised too (kernels then overlap under PDL, as in serving).
SYNC=-Dkiln.cuda.sync=true
[[ ${KILN_SYNC:-1} == 0 ]] && SYNC=-Dkiln.cuda.sync=false
for f in deepseek-v3-tiny deepseek-v3-tiny-fp8 deepseek-v2-lite-tiny qwen2-tiny llama-tiny; do
  if [[ ! -d testdata/fixtures/$f && -d $here/fixtures/$f ]]; then mkdir -p testdata/fixtures && ln -s "$here/fixtures/$f" "testdata/fixtures/$f"; fi
done
bandwidth=0
# NCCL: the library PyTorch's wheels carry (nvidia-nccl-*), else whatever the loader finds
nccl=$(find $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null) -name 'libnccl.so.2' 2>/dev/null | head -n 1)
[[ -z $nccl ]] && nccl=$(ldconfig -p 2>/dev/null | sed -n 's/.*libnccl.so.2 .*=> //p' | head -n 1)
[[ -n $nccl ]] && JOPTS+=("-Dkiln.cuda.ncclLibrary=$nccl")
export NCCL_NVLS_ENABLE=0

# run_section NAME CAP_SECONDS COMMAND...: runs with the smaller of its cap and the time left, records rc and time
run_section() {
  local name=$1 cap=$2; shift 2
  local now=$(date +%s) left
  left=$(( budget - (now - t_start) ))
  if (( left < 30 )); then summary+=("$(printf '%-14s SKIPPED (time budget spent)' "$name")"); return; fi
  (( cap > left - 10 )) && cap=$(( left - 10 ))
  echo; echo "== [$name] (cap ${cap}s) $(date -u +%T)"
  local t0=$(date +%s)
  timeout -k 10 "$cap" "$@"
  local rc=$?
  local took=$(( $(date +%s) - t0 ))
  local verdict=ok; (( rc != 0 )) && verdict="FAILED rc=$rc"; (( rc == 124 || rc == 137 )) && verdict="TIMED OUT after ${cap}s"
  summary+=("$(printf '%-14s %-24s %4ds' "$name" "$verdict" "$took")")
}

console=$(ls "$kiln"/lib/junit-platform-console-standalone-*.jar 2>/dev/null | head -n 1)

# llama8b_config: /tmp/llama-8b.json, R1-Distill-Llama-8B's config with DeepSeek's vocabulary (129,280), the peers' shape
llama8b_config() {
  python3 -c "import json; c = json.load(open('configs/deepseek-r1-distill-llama-8b.json')); c['vocab_size'] = 129280; json.dump(c, open('/tmp/llama-8b.json', 'w'))"
}

# junit_section NAME CLASS...: the JUnit console on those test classes (240 s cap), its tree also in $OUT/NAME.txt
junit_section() {
  local name=$1 selects=() c; shift
  if [[ -z $console ]]; then
    echo "$name: no JUnit console in this payload (scripts/device.sh without --serve, or with --serve --junit)"
    summary+=("$(printf '%-14s %-24s' "$name" 'SKIPPED (no JUnit console)')"); return
  fi
  for c in "$@"; do selects+=(--select-class "$c"); done
  run_section "$name" 240 bash -c "set -o pipefail; '$JAVA' ${JOPTS[*]} $SYNC -cp '$CP:$console' org.junit.platform.console.ConsoleLauncher execute \
    --disable-banner --disable-ansi-colors --details=tree --details-theme=ascii ${selects[*]} 2>&1 | tee '$OUT/$name.txt'"
}

for s in "${sections[@]}"; do
  case $s in
    env)
      run_section env 60 bash -c 'nvidia-smi; uname -a; nproc; free -g | head -2; ldconfig -p | grep -E "libcuda.so.1|libcublasLt.so.13" ;
        python3 -c "import torch; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, torch.cuda.get_device_name(0))"' ;;
    ceilings)
      run_section ceilings 150 bash -c "set -o pipefail; PYTHONUNBUFFERED=1 python3 '$here/torch_bench.py' ceilings --out '$OUT/torch_ceilings.json' | tee '$OUT/.ceilings.txt'"
      bandwidth=$(sed -n 's/^BANDWIDTH_GBS=//p' "$OUT/.ceilings.txt" 2>/dev/null | tail -n 1); bandwidth=${bandwidth:-0}
      rm -f "$OUT/.ceilings.txt" ;;
    check)
      run_section check "${KILN_CHECK_CAP_S:-300}" "$JAVA" "${JOPTS[@]}" $SYNC -cp "$CP" kiln.backend.cuda.CudaKernelCheck ${KILN_CHECK:-} --out "$OUT/check.txt" ;;
    fixtures)
      junit_section fixtures kiln.model.CudaFixtureTest kiln.model.CudaGraphFixtureTest kiln.engine.CudaEngineTest kiln.engine.CudaOverlapScheduleTest ;;
    junit)
      # the default class loads the bundled tokenizer, whose chat template needs Jinjava (and java.desktop's
      # java.beans): only the --serve --junit payload has them
      if [[ -z ${KILN_JUNIT_CLASSES:-} ]] && ! ls "$kiln"/lib/jinjava-*.jar >/dev/null 2>&1; then
        echo "junit: CudaConstrainedDecodingTest needs the tokenizer's Jinjava (stage with scripts/device.sh --serve --junit)"
        summary+=("$(printf '%-14s %-24s' junit 'SKIPPED (payload without --serve --junit)')"); continue
      fi
      junit_section junit ${KILN_JUNIT_CLASSES:-kiln.engine.CudaConstrainedDecodingTest} ;;
    engine)
      junit_section engine kiln.engine.CudaEngineTest kiln.engine.CudaOverlapScheduleTest ;;
    generate)
      run_section generate 120 bash -c "
        rc=0
        for dt in float32 bfloat16; do
          for f in deepseek-v3-tiny-fp8 llama-tiny; do
            c=\$('$JAVA' ${JOPTS[*]} -cp '$CP' kiln.cli.Main generate --model-path testdata/fixtures/\$f --input-ids 5,6,7,8,9 --max-new-tokens 12 --device cpu --json 2>/dev/null | sed -n 's/.*\"output_ids\":\(\[[^]]*\]\).*/\1/p')
            g=\$('$JAVA' ${JOPTS[*]} $SYNC -cp '$CP' kiln.cli.Main generate --model-path testdata/fixtures/\$f --input-ids 5,6,7,8,9 --max-new-tokens 12 --device cuda --dtype \$dt --json | sed -n 's/.*\"output_ids\":\(\[[^]]*\]\).*/\1/p')
            # quoted: unquoted, the right side of == is a glob pattern and [912,...] a bracket expression
            same=DIFFERENT; [[ -n \$c && \"\$c\" == \"\$g\" ]] && same=SAME
            [[ \$dt == bfloat16 ]] && same=\"\$same (bf16 against the CPU's float32: informational; check's generate_vs_sim compares with bf16 simulated)\"
            echo \"generate \$f \$dt: cpu \$c cuda \$g \$same\"
            [[ \$dt == float32 && ( -z \$c || \"\$c\" != \"\$g\" ) ]] && rc=1
          done
        done
        exit \$rc" ;;
    bench-v2)
      run_section bench-v2 200 "$JAVA" "${JOPTS[@]}" -Dkiln.bench.steps=30 -Dkiln.bench.bandwidthGBs="$bandwidth" -cp "$CP" kiln.backend.cuda.CudaBench decode prefill --models v2 --out "$OUT/bench.jsonl" ;;
    bench-v2-base)
      run_section bench-v2-base 120 "$JAVA" "${JOPTS[@]}" -Dkiln.cuda.moeMma=false -Dkiln.cuda.gemv2=false -Dkiln.cuda.mlaSplit64=false \
        -Dkiln.bench.batches=1,64 -Dkiln.bench.tag=" p2" -Dkiln.bench.bandwidthGBs="$bandwidth" -cp "$CP" kiln.backend.cuda.CudaBench decode --models v2 \
        --out "$OUT/bench.jsonl" ;;
    bench-r1)
      run_section bench-r1 330 "$JAVA" "${JOPTS[@]}" -Dkiln.bench.steps=30 -Dkiln.bench.bandwidthGBs="$bandwidth" -cp "$CP" kiln.backend.cuda.CudaBench decode prefill --models r1 --out "$OUT/bench.jsonl" ;;
    bench-v2-fuse)
      run_section bench-v2-fuse 120 "$JAVA" "${JOPTS[@]}" -Dkiln.cuda.fuseDecode=false -Dkiln.bench.batches=1,8 -Dkiln.bench.tag=" unfused" \
        -Dkiln.bench.bandwidthGBs="$bandwidth" -cp "$CP" kiln.backend.cuda.CudaBench decode --models v2 --out "$OUT/bench.jsonl" ;;
    bench-v2-pdl)
      run_section bench-v2-pdl 120 "$JAVA" "${JOPTS[@]}" -Dkiln.cuda.pdl=false -Dkiln.bench.batches=1,8,64 -Dkiln.bench.tag=" nopdl" \
        -Dkiln.bench.bandwidthGBs="$bandwidth" -cp "$CP" kiln.backend.cuda.CudaBench decode --models v2 --out "$OUT/bench.jsonl" ;;
    ncu|ncu-r1)
      model=${KILN_NCU_MODEL:-v2}; layers=${KILN_NCU_LAYERS:-4}
      [[ $s == ncu-r1 ]] && { model=r1; layers=5; }
      run_section "$s" 240 bash -c "ncu --target-processes all --clock-control none --cache-control none --graph-profiling node \
        --metrics gpu__time_duration.sum --csv --log-file /tmp/kiln-ncu.csv '$JAVA' ${JOPTS[*]} -Dkiln.cuda.pdl=false -Dkiln.bench.layers=$layers \
        -Dkiln.bench.batches=1 -Dkiln.bench.steps=2 -cp '$CP' kiln.backend.cuda.CudaBench decode --models $model > /tmp/kiln-ncu.out 2>&1;
        rc=\$?; tail -n 5 /tmp/kiln-ncu.out; python3 '$here/ncu_summary.py' /tmp/kiln-ncu.csv 130; exit \$rc" ;;
    bench-v2-small)
      # KILN_VARIANTS="tag=JVM options;tag=JVM options": one run per variant (its own JVM: the switches are read once)
      IFS=';' read -r -a variants <<< "${KILN_VARIANTS:-${KILN_TAG:-}=}"
      for v in "${variants[@]}"; do
        read -r -a vopts <<< "${v#*=}"
        tag=${v%%=*}; tag=${tag# }; [[ -n $tag ]] && tag=" $tag"
        run_section "bench-v2-small$tag" 120 "$JAVA" "${JOPTS[@]}" "${vopts[@]}" -Dkiln.bench.batches=1,8 -Dkiln.bench.steps=50 \
          -Dkiln.bench.eager=false "-Dkiln.bench.tag=$tag" -Dkiln.bench.bandwidthGBs="$bandwidth" -cp "$CP" kiln.backend.cuda.CudaBench \
          decode --models v2 --out "$OUT/bench.jsonl"
      done ;;
    bench-v2-skip)
      small=rmsnorm_vec_bf16,mla_prepare_bf16_m1,gemv_heads_merge_bf16_k512_m1,moe_combine_bf16
      sets=${KILN_SKIP:-rmsnorm_vec_bf16;mla_prepare_bf16_m1;mla_attention_tc2_bf16;gemv_heads_merge_bf16_k512_m1;gemv2_pair_bf16_wbf16_m1;gemv2_bf16_wbf16_m1;gemv2_gate_up_bf16_wbf16_m1;moe_gemv2_bf16_wbf16_m1;moe_gemv2_gate_up_bf16_wbf16_m1,moe_gemv2_bf16_wbf16_m1;moe_combine_bf16;$small}
      run_section bench-v2-skip 150 "$JAVA" "${JOPTS[@]}" -Dkiln.bench.batches=1 -Dkiln.bench.steps=50 -Dkiln.bench.eager=false "-Dkiln.bench.skip=$sets" \
        -Dkiln.bench.bandwidthGBs="$bandwidth" -cp "$CP" kiln.backend.cuda.CudaBench decode --models v2 ;;
    ncu-stalls)
      run_section ncu-stalls 150 bash -c "ncu --target-processes all --clock-control none --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio' \
        -k regex:'${KILN_NCU_KERNELS:-mla_attention_tc2}' --launch-skip ${KILN_NCU_SKIP:-20} --launch-count 1 '$JAVA' ${JOPTS[*]} -Dkiln.cuda.pdl=false \
        -Dkiln.bench.layers=4 -Dkiln.bench.batches=1 -Dkiln.bench.steps=2 -cp '$CP' kiln.backend.cuda.CudaBench decode --models v2 2>&1 \
        | grep -v '^\[\|^WARNING' | awk '\$NF+0 >= 0.05 || !/stalled/' | tail -n 60" ;;
    ncu-detail)
      run_section ncu-detail 180 bash -c "ncu --target-processes all --clock-control none --section SpeedOfLight --section WarpStateStats \
        --section LaunchStats --section Occupancy --section MemoryWorkloadAnalysis -k regex:'${KILN_NCU_KERNELS:-mla_attention_tc2|moe_route_align|attention_combine2}' \
        --launch-skip ${KILN_NCU_SKIP:-30} --launch-count 3 '$JAVA' ${JOPTS[*]} -Dkiln.cuda.pdl=false -Dkiln.bench.layers=${KILN_NCU_LAYERS:-4} -Dkiln.bench.batches=1 \
        -Dkiln.bench.steps=2 -cp '$CP' kiln.backend.cuda.CudaBench decode --models ${KILN_NCU_MODEL:-v2} 2>&1 | grep -v '^\[\|^WARNING' | tail -n 400" ;;
    kernels)
      run_section kernels 200 "$JAVA" "${JOPTS[@]}" -Dkiln.bench.bandwidthGBs="$bandwidth" -cp "$CP" kiln.backend.cuda.CudaBench kernels --models none --out "$OUT/bench.jsonl" ;;
    moe)
      run_section moe 240 "$JAVA" "${JOPTS[@]}" -cp "$CP" kiln.backend.cuda.CudaBench moe --models none --out "$OUT/bench.jsonl" ;;
    prefill-v2-moe)
      for cap in ${KILN_MMA_CAPS:-256 1000000}; do
        run_section "prefill-v2-mma$cap" 150 "$JAVA" "${JOPTS[@]}" -Dkiln.cuda.moeMmaMaxTokens=$cap -Dkiln.bench.prefillTokens=512,1024,4096 \
          "-Dkiln.bench.tag= mma<=$cap" -cp "$CP" kiln.backend.cuda.CudaBench prefill --models v2 --out "$OUT/bench.jsonl"
      done ;;
    prefill-cached)
      for cached in ${KILN_PREFILL_CACHED:-0 1536 2688}; do
        run_section "prefill-cached-$cached" 120 "$JAVA" "${JOPTS[@]}" -Dkiln.cuda.profile=true -Dkiln.bench.prefillTokens=512,1024 \
          -Dkiln.bench.prefillCached=$cached -cp "$CP" kiln.backend.cuda.CudaBench prefill --models v2 --out "$OUT/bench.jsonl"
      done ;;
    prefill-staged)
      for m in ${KILN_STAGED_MODELS:-v2 r1}; do
        run_section "prefill-$m-default" 240 "$JAVA" "${JOPTS[@]}" -Dkiln.bench.prefillTokens=512,1024,4096 -cp "$CP" \
          kiln.backend.cuda.CudaBench prefill --models "$m" --out "$OUT/bench.jsonl"
        run_section "prefill-$m-staged" 240 "$JAVA" "${JOPTS[@]}" -Dkiln.cuda.moeStagedMinTokens=9 -Dkiln.bench.tag=staged \
          -Dkiln.bench.prefillTokens=512,1024,4096 -cp "$CP" kiln.backend.cuda.CudaBench prefill --models "$m" --out "$OUT/bench.jsonl"
      done ;;
    mla)
      run_section mla 150 "$JAVA" "${JOPTS[@]}" -cp "$CP" kiln.backend.cuda.CudaBench mla --models none --out "$OUT/bench.jsonl" ;;
    fp8)
      run_section fp8 180 "$JAVA" "${JOPTS[@]}" -cp "$CP" kiln.backend.cuda.CudaBench fp8 lt-algos --models none --out "$OUT/bench.jsonl"
      run_section torch-fp8 150 bash -c "PYTHONUNBUFFERED=1 python3 '$here/torch_bench.py' fp8 --out '$OUT/torch_fp8.json'" ;;
    torch-kernels)
      run_section torch-kernels 200 bash -c "PYTHONUNBUFFERED=1 python3 '$here/torch_bench.py' kernels --out '$OUT/torch_kernels.json'" ;;
    profile)
      run_section profile 200 "$JAVA" "${JOPTS[@]}" -Dkiln.cuda.profile=true -Dkiln.bench.batches=1,64 -Dkiln.bench.bandwidthGBs="$bandwidth" -cp "$CP" \
        kiln.backend.cuda.CudaBench decode prefill --models v2 ;;
    profile-r1)
      run_section profile-r1 300 "$JAVA" "${JOPTS[@]}" -Dkiln.cuda.profile=true -Dkiln.bench.batches=1,64 -Dkiln.bench.bandwidthGBs="$bandwidth" -cp "$CP" \
        kiln.backend.cuda.CudaBench decode prefill --models r1 ;;
    serve-bench)
      if ! ls "$kiln"/lib/jetty-server-*.jar >/dev/null 2>&1; then
        echo "serve-bench: this payload has no server libraries (stage it with scripts/device.sh --serve)"
        summary+=("$(printf '%-14s %-24s' serve-bench 'SKIPPED (payload without --serve)')"); continue
      fi
      now=$(date +%s)
      JAVA=$JAVA JOPTS_STR="${JOPTS[*]}" CP=$CP OUT=$OUT SERVE_BENCH_END=$(( t_start + budget - 15 )) \
        run_section serve-bench $(( budget - (now - t_start) - 5 )) bash "$here/serve_bench.sh" ;;
    tp-check)
      echo "NCCL library: ${nccl:-none found}"
      run_section tp-check 120 "$JAVA" "${JOPTS[@]}" $SYNC -cp "$CP" kiln.backend.cuda.CudaKernelCheck tp_ --out "$OUT/tp-check.txt" ;;
    tp-fixtures)
      junit_section tp-fixtures kiln.model.CudaTensorParallelFixtureTest ;;
    bench-v2-tp)
      for n in ${KILN_TP_SIZES:-1 2}; do
        run_section "bench-v2-tp$n" 200 "$JAVA" "${JOPTS[@]}" -Dkiln.bench.tp=$n -Dkiln.cuda.tpRanks=virtual -Dkiln.bench.batches=1,8,64 \
          -Dkiln.bench.steps=20 -Dkiln.bench.eager=false -Dkiln.bench.bandwidthGBs="$bandwidth" -cp "$CP" kiln.backend.cuda.CudaBench \
          decode prefill --models v2 --out "$OUT/bench.jsonl"
      done ;;
    load-r1-rank0)
      layers=()
      [[ -n ${KILN_R1_LAYERS:-} ]] && layers=(--json-model-override-args "{\"num_hidden_layers\": $KILN_R1_LAYERS}")
      run_section load-r1-rank0 300 "$JAVA" "${JOPTS[@]}" -cp "$CP" kiln.cli.Main load --device cuda --model-path configs/deepseek-r1.json \
        --load-format dummy --tp 8 --rank 0 "${layers[@]}" ;;
    gqa)
      run_section gqa-check 180 "$JAVA" "${JOPTS[@]}" $SYNC -cp "$CP" kiln.backend.cuda.CudaKernelCheck gqa --out "$OUT/check.txt"
      ids=$(python3 -c "print(','.join(str(1000 + 7 * i % 50000) for i in range(600)))")
      for on in "false false" "true false" "true true"; do
        read -r prefill tc <<< "$on"
        run_section "gqa-generate-$prefill-$tc" 90 "$JAVA" "${JOPTS[@]}" -Dkiln.cuda.gqaPrefill=$prefill -Dkiln.cuda.gqaTc=$tc -cp "$CP" kiln.cli.Main \
          generate --device cuda --model-path configs/deepseek-r1-distill-qwen-1.5b.json --load-format dummy --input-ids "$ids" --max-new-tokens 16 --json
      done
      llama8b_config
      for on in false true; do
        run_section "gqa-bench-8b-$on" 150 "$JAVA" "${JOPTS[@]}" -Dkiln.cuda.gqaPrefill=$on -Dkiln.cuda.gqaTc=$on -Dkiln.bench.ctx=576 -Dkiln.bench.batches=1,8,32,64 \
          -Dkiln.bench.eager=false -Dkiln.bench.tag=" gqa-tc-$on" -cp "$CP" kiln.backend.cuda.CudaBench decode prefill --models /tmp/llama-8b.json --out "$OUT/bench.jsonl"
      done ;;
    mid-batches)
      # "old": the defaults before 2026-12-08 (no linear_mma, moe_mma from 9 tokens); "new": today's defaults
      llama8b_config
      gqa_on="-Dkiln.cuda.gqaPrefill=true -Dkiln.cuda.gqaTc=true"
      for model in ${KILN_MID_MODELS:-8b v2 r1}; do
        target=$model; cap=120
        [[ $model == 8b ]] && target=/tmp/llama-8b.json
        [[ $model == r1 ]] && cap=240
        for v in "old=-Dkiln.cuda.linearMmaMaxRows=1|-Dkiln.cuda.linearMmaFp8=false|-Dkiln.cuda.moeMmaMinTokens=9" "new=" ${KILN_MID_EXTRA:-}; do
          tag=${v%%=*}; opts=${v#*=}; opts=${opts//|/ }
          # shellcheck disable=SC2086
          run_section "mid-$model-$tag" $cap "$JAVA" "${JOPTS[@]}" $gqa_on $opts -Dkiln.bench.ctx=576 -Dkiln.bench.batches=1,2,4,8,12,16,24,32,64 \
            -Dkiln.bench.steps=30 -Dkiln.bench.eager=false "-Dkiln.bench.tag= mid-$tag" -Dkiln.bench.bandwidthGBs="$bandwidth" -cp "$CP" \
            kiln.backend.cuda.CudaBench decode --models "$target" --out "$OUT/bench.jsonl"
        done
      done ;;
    peers)
      if [[ ! -f $here/llama/llama-bin.tar.xz ]]; then
        echo "peers: no .device/llama/llama-bin.tar.xz staged"; summary+=("$(printf '%-14s %-24s' peers 'SKIPPED (no llama.cpp)')"); continue
      fi
      mkdir -p /tmp/llama && tar -xJf "$here/llama/llama-bin.tar.xz" -C /tmp/llama
      source "$here/serve_lib.sh"  # the tokenizer is stored gzipped in kiln.jar
      extract_tokenizer "${CP%%:*}" /tmp/kiln-tokenizer >/dev/null && tok=/tmp/kiln-tokenizer/tokenizer.json
      llama8b_config
      for shape in ${KILN_PEERS_SHAPES:-v2 8b}; do
        if [[ $shape == v2 ]]; then cfg=configs/deepseek-v2-lite.json; writer=make_gguf_deepseek2.py; else cfg=/tmp/llama-8b.json; writer=make_gguf.py; fi
        run_section "peers-gguf-$shape" 150 python3 "$here/llama/$writer" "$cfg" "$tok" /tmp/peer.gguf
        run_section "peers-llama-$shape" 120 env LD_LIBRARY_PATH=/tmp/llama LD_PRELOAD=libcuda.so.1 /tmp/llama/llama-batched-bench -m /tmp/peer.gguf -ngl 99 \
          -c 41984 -b 2048 -ub 512 -npp 512 -ntg 128 -npl 1,8,32,64
        run_section "peers-llama-pp-$shape" 90 env LD_LIBRARY_PATH=/tmp/llama LD_PRELOAD=libcuda.so.1 /tmp/llama/llama-batched-bench -m /tmp/peer.gguf -ngl 99 \
          -c 4224 -b 4096 -ub 512 -npp 4096 -ntg 1 -npl 1
        rm -f /tmp/peer.gguf
        model=$cfg; [[ $shape == v2 ]] && model=v2
        [[ ${KILN_PEERS_KILN:-1} == 1 ]] && run_section "peers-kiln-$shape" 150 "$JAVA" "${JOPTS[@]}" -Dkiln.bench.ctx=576 -Dkiln.bench.batches=1,8,32,64 -Dkiln.bench.eager=false \
          '-Dkiln.bench.modelOverride={"vocab_size":129280}' -Dkiln.bench.tag=" peers" -cp "$CP" kiln.backend.cuda.CudaBench decode prefill \
          --models "$model" --out "$OUT/bench.jsonl"
      done ;;
    r1-tp8)
      if ! ls "$kiln"/lib/jetty-server-*.jar >/dev/null 2>&1; then
        echo "r1-tp8: this payload has no server libraries (stage it with scripts/device.sh --serve)"
        summary+=("$(printf '%-14s %-24s' r1-tp8 'SKIPPED (payload without --serve)')"); continue
      fi
      now=$(date +%s)
      JAVA=$JAVA JOPTS_STR="${JOPTS[*]}" CP=$CP OUT=$OUT R1_TP8_END=$(( t_start + budget - 15 )) \
        run_section r1-tp8 $(( budget - (now - t_start) - 5 )) bash "$here/r1_tp8.sh" ;;
    *) echo "unknown section $s (run.sh --help lists them)"; summary+=("$(printf '%-14s UNKNOWN' "$s")") ;;
  esac
done

{
  echo
  echo "==================== Kiln device harness summary ($(( $(date +%s) - t_start ))s, $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1))"
  printf '%s\n' "${summary[@]}"
  [[ $bandwidth != 0 ]] && echo "measured copy bandwidth: $bandwidth GB/s"
  [[ -f $OUT/torch_ceilings.json ]] && python3 -c "import json;[print(f\"ceiling  {r['name']:28s} {r['gbs']:8.0f} GB/s {r['tflops']:7.1f} TFLOP/s\") for r in json.load(open('$OUT/torch_ceilings.json'))]" 2>/dev/null
  [[ -f $OUT/check.txt ]] && { grep -E 'FAIL' "$OUT/check.txt" | head -n 25; grep -E '^[0-9]+ checks, ' "$OUT/check.txt"; }
  [[ -f $OUT/fixtures.txt ]] && grep -E 'tests (successful|failed|aborted|skipped)|containers (failed|aborted)' "$OUT/fixtures.txt"
  [[ -f $OUT/engine.txt ]] && grep -E 'tests (successful|failed|aborted|skipped)|containers (failed|aborted)' "$OUT/engine.txt"
  [[ -f $OUT/tp-check.txt ]] && { grep -E 'FAIL' "$OUT/tp-check.txt" | head -n 25; grep -E '^[0-9]+ checks, ' "$OUT/tp-check.txt"; }
  [[ -f $OUT/tp-fixtures.txt ]] && grep -E 'tests (successful|failed|aborted|skipped)|containers (failed|aborted)' "$OUT/tp-fixtures.txt"
  grep -hE '^generate [a-z0-9-]+ (float32|bfloat16):' "$OUT/run.log" 2>/dev/null | tail -n 4
  grep -h '^\[bench\] \(decode\|prefill\|kernel\|skip\) \|^\[bench\].*failed' "$OUT/run.log" 2>/dev/null | sed 's/^\[bench\] /kiln  /'
  grep -h '^\[torch\] kernel ' "$OUT/run.log" 2>/dev/null | sed 's/^\[torch\] /torch /'
  # the profile tables: the 12 largest ops of each, then the sum and the rest
  awk '/^\[profile\] [a-z]/ {n=0; print; next} /^\[profile\] +ms\/step/ {print; next}
       /^\[profile\]/ { if ($0 ~ /sum of ops|outside ops/ || ++n <= 12) print }' "$OUT/run.log" 2>/dev/null
  grep -h '^\[serve-bench\] \( *conc\| *[0-9]\|largest\|/generate greedy\|stopping\)' "$OUT/run.log" 2>/dev/null
  grep -h '^\[r1-tp8\] \( *conc\| *[0-9]\|kiln r1\|largest\|server\|stopping\|no time\|needs\)' "$OUT/run.log" 2>/dev/null
  grep -h '^DeepseekV3ForCausalLM, [0-9]* layers, rank\|^weights: \|^host memory: \|^KV pool at' "$OUT/run.log" 2>/dev/null
} | tee "$OUT/summary.txt"
# the exit status says whether a section failed (the summary's last grep would otherwise decide it)
! printf '%s\n' "${summary[@]}" | grep -q -e 'FAILED' -e 'TIMED OUT'
