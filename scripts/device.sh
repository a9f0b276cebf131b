#!/usr/bin/env bash
# Kiln device harness, local half: builds everything the GPU machine needs and stages it in .device/ (ignored by
# git; carry it with the device tool's `carry: [".device"]`). The GPU machine has no Java and no network.
#
#   scripts/device.sh [--fixtures NAME,NAME|all|none]
#
# Stages .device/payload.tar.xz (a jlinked Java 25 runtime with a stripped libjvm, kiln.jar with the CUDA
# kernels, the test classes, Jackson and the JUnit console launcher; jars stored uncompressed so that xz packs
# the class files), .device/run.sh (the remote half) and .device/torch_bench.py. Fixtures are read from
# testdata/fixtures of the checkout that travels; --fixtures copies the named ones into .device/fixtures for a
# checkout without them. Prints what it staged and its size: the checkout plus .device must stay under 64 MiB.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
fixtures=none
while [[ $# -gt 0 ]]; do
  case $1 in
    --fixtures) fixtures=$2; shift 2 ;;
    *) echo "usage: scripts/device.sh [--fixtures NAME,NAME|all|none]" >&2; exit 2 ;;
  esac
done

if [[ -z ${JAVA_HOME:-} || ! -x $JAVA_HOME/bin/jlink ]]; then JAVA_HOME=$(ls -d /usr/lib/jvm/temurin-25* 2>/dev/null | head -n 1); fi
export JAVA_HOME
command -v nvcc >/dev/null || [[ -x /usr/local/cuda/bin/nvcc ]] || { echo "device.sh: nvcc is needed to build the CUDA kernels" >&2; exit 2; }

echo "== building (kernels, jar, test classes)"
./mvnw -q -B -DskipTests package
./mvnw -q -B test-compile
unzip -l target/kiln.jar | grep -q 'kiln/cuda/kernels.fatbin' || { echo "device.sh: target/kiln.jar has no kernels.fatbin" >&2; exit 1; }

cache=$root/target/device-cache
dev=$root/.device
stage=$cache/stage
mkdir -p "$cache"
rm -rf "$stage" "$dev"
mkdir -p "$stage/lib" "$dev"

junit_version=$(sed -n 's:.*<junit.version>\(.*\)</junit.version>.*:\1:p' pom.xml)
console=$cache/junit-platform-console-standalone-$junit_version.jar
if [[ ! -f $console ]]; then
  ./mvnw -q -B dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:$junit_version -DoutputDirectory="$cache"
fi

if [[ ! -x $cache/jre/bin/java ]]; then
  echo "== building the Java runtime (jlink; a minute or two)"
  rm -rf "$cache/jre" "$cache/jre-build"
  KILN_JRE_MODULES=java.base,jdk.incubator.vector,java.logging,jdk.unsupported /work/shared/tools/device-jre.sh "$cache/jre-build" >/dev/null \
    || ../shared/tools/device-jre.sh "$cache/jre-build" >/dev/null
  tar xJf "$cache/jre-build/jre.tar.xz" -C "$cache"
  strip --strip-unneeded "$cache/jre/lib/server/libjvm.so" 2>/dev/null || true
  "$cache/jre/bin/java" -version 2>&1 | head -n 1
fi
cp -a "$cache/jre" "$stage/jre"

(cd target/test-classes && "$JAVA_HOME/bin/jar" --create --file "$stage/lib/kiln-tests.jar" kiln)
cp target/kiln.jar target/lib/jackson-*.jar target/lib/picocli-*.jar "$console" "$stage/lib/"
# store jars uncompressed: xz over raw class files beats xz over deflated ones by a third
python3 - "$stage/lib" <<'PY'
import os, sys, zipfile
d = sys.argv[1]
for name in os.listdir(d):
    p = os.path.join(d, name)
    with zipfile.ZipFile(p) as src, zipfile.ZipFile(p + ".tmp", "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            copy = zipfile.ZipInfo(info.filename, info.date_time)
            copy.external_attr = info.external_attr
            copy.compress_type = zipfile.ZIP_STORED
            dst.writestr(copy, src.read(info))
    os.replace(p + ".tmp", p)
PY
echo "== packing"
XZ_OPT=-9e tar cJf "$dev/payload.tar.xz" -C "$stage" jre lib
cp scripts/device/run.sh scripts/device/torch_bench.py "$dev/"
chmod +x "$dev/run.sh"

if [[ $fixtures != none ]]; then
  [[ $fixtures == all ]] && fixtures=deepseek-v3-tiny,deepseek-v3-tiny-fp8,deepseek-v2-lite-tiny,qwen2-tiny,llama-tiny
  mkdir -p "$dev/fixtures"
  IFS=, read -ra names <<<"$fixtures"
  for n in "${names[@]}"; do
    [[ -d testdata/fixtures/$n ]] || { echo "device.sh: no fixture $n" >&2; exit 2; }
    cp -r "testdata/fixtures/$n" "$dev/fixtures/"
  done
fi
rm -rf "$stage"
echo "== staged .device:"
du -ab "$dev" | sort -n | tail -n 8 | awk '{printf "  %8.2f MiB  %s\n", $1/1048576, $2}'
checkout=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -n 1 | cut -f1)
total=$(( checkout + $(du -sb "$dev" | cut -f1) ))
printf '  this checkout (tracked files) %.1f MiB + .device = %.1f MiB of the 64 MiB a device call may carry\n' \
  "$(echo "$checkout/1048576" | bc -l)" "$(echo "$total/1048576" | bc -l)"
echo "Run on the GPU machine: bash .device/run.sh [SECTION...]   (carry: .device; run.sh --help lists the sections)"
