#!/usr/bin/env bash
# Decode speed of two builds in one call, one JVM per (model, build), alternating (device harness, remote half).
#   bash .device/compare_builds.sh [MODELS]      MODELS: "v2 r1" (default)
# The current build is the payload's kiln.jar / kiln-tests.jar; the other is .device/other/kiln.jar and
# .device/other/kiln-tests.jar (staged by scripts/device.sh --other-build DIR). Both run CudaBench decode at
# KILN_BATCHES (1,8,64) with graphs; each line is tagged "cur" or "other". Results: $OUT/compare.jsonl.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-$here/out}
mkdir -p "$OUT"
bash "$here/run.sh" env > "$OUT/compare-env.log" 2>&1   # unpacks the payload into /tmp/kiln-device
kiln=/tmp/kiln-device
JAVA=$kiln/jre/bin/java
deps=$(ls "$kiln"/lib/*.jar | grep -v -e '/kiln.jar$' -e '/kiln-tests.jar$' -e junit-platform-console | tr '\n' ':')
cur="$kiln/lib/kiln.jar:$kiln/lib/kiln-tests.jar:$deps"
other="$here/other/kiln.jar:$here/other/kiln-tests.jar:$deps"
[[ -f $here/other/kiln.jar ]] || { echo "no other build in $here/other"; exit 2; }
other_opts=()
if ! python3 -c "import sys, zipfile; sys.exit(0 if 'kiln/cuda/kernels.fatbin' in zipfile.ZipFile('$here/other/kiln.jar').namelist() else 1)"; then
  # the other build was staged without kernels: it runs this build's (-Dkiln.cuda.fatbin)
  python3 -c "import zipfile; open('$kiln/kernels.fatbin', 'wb').write(zipfile.ZipFile('$kiln/lib/kiln.jar').read('kiln/cuda/kernels.fatbin'))"
  other_opts=(-Dkiln.cuda.fatbin="$kiln/kernels.fatbin")
  echo "the other build runs this build's kernels ($kiln/kernels.fatbin)"
fi
t0=$(date +%s)
for model in ${1:-v2 r1}; do
  order="cur other"; [[ $model == r1 ]] && order="other cur"
  for build in $order; do
    cp=$cur; opts=(); [[ $build == other ]] && { cp=$other; opts=("${other_opts[@]}"); }
    echo "== $model $build ($(( $(date +%s) - t0 )) s)"
    "$JAVA" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xss4m -Xmx24g "${opts[@]}" \
      -Dkiln.bench.batches=${KILN_BATCHES:-1,8,64} -Dkiln.bench.steps=30 "-Dkiln.bench.tag= $build" -cp "$cp" \
      kiln.backend.cuda.CudaBench decode --models "$model" --out "$OUT/compare.jsonl" 2>&1 | grep -E '^\[bench\]|Exception|Error' | head -40
  done
done
echo "== done in $(( $(date +%s) - t0 )) s"
