#!/usr/bin/env bash
# Kiln device harness, local half: builds everything the GPU machine needs and stages it in .device/ (ignored by
# git; carry it with the device tool's `carry: [".device"]`). The GPU machine has no Java and no network.
#
#   scripts/device.sh [--serve [--junit]] [--fixtures NAME,NAME|all|none] [--alt-nvcc-flags FLAGS] [--other-build CHECKOUT]
#
# Two payloads: the default one runs the checks, the fixture tests and the benchmarks (a small runtime, the test
# classes, the JUnit console launcher); --serve adds what `kiln serve` and `kiln bench` need on the GPU machine
# (every runtime jar, a runtime with java.desktop for java.beans, java.net.http, ...) for the serve-bench
# section and drops the JUnit launcher (--junit keeps it, for a call that runs engine tests beside the serving
# benchmark: about 1 MiB more). Neither fits one 64 MiB call beside the whole checkout since the sixth
# fixture (~74 MiB): for the default one move two fixtures out of the tree (e.g. deepseek-v2-lite-tiny and
# deepseek-v3-tiny; their fixture tests then fail for want of them), for the --serve one all of testdata/fixtures (serve-bench reads none; the tokenizer
# comes out of kiln.jar). Move them back before committing: `git add -A` would record them as deleted.
#
# Stages .device/payload.tar.xz (a jlinked Java 25 runtime with a stripped libjvm, kiln.jar with the CUDA
# kernels, the test classes, Jackson and the JUnit console launcher; jars stored uncompressed so that xz packs
# the class files), .device/run.sh (the remote half) and .device/torch_bench.py. Fixtures are read from
# testdata/fixtures of the checkout that travels; --fixtures copies the named ones into .device/fixtures for a
# checkout without them. --alt-nvcc-flags also builds the kernels with those nvcc flags into the payload's
# lib/kernels-alt.fatbin, for a variant that loads it (-Dkiln.cuda.fatbin=/tmp/kiln-device/lib/kernels-alt.fatbin,
# e.g. in run.sh's KILN_VARIANTS): compile-time experiments compared in one call. --other-build stages another
# checkout's built kiln.jar and test classes (mvnw package + test-compile there first) into .device/other, for
# compare_builds.sh: the decode speed of two builds in one call (the other build runs this build's kernels unless
# KILN_OTHER_KERNELS=1 keeps its own: 4 MiB more). Prints what it staged and its size: the checkout
# plus .device must stay under 64 MiB.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
fixtures=none
serve=0
junit=0
alt_flags=
other_build=
while [[ $# -gt 0 ]]; do
  case $1 in
    --fixtures) fixtures=$2; shift 2 ;;
    --serve) serve=1; shift ;;
    --junit) junit=1; shift ;;
    --alt-nvcc-flags) alt_flags=$2; shift 2 ;;
    --other-build) other_build=$(cd "$2" && pwd); shift 2 ;;
    *) echo "usage: scripts/device.sh [--serve [--junit]] [--fixtures NAME,NAME|all|none] [--alt-nvcc-flags FLAGS] [--other-build CHECKOUT]" >&2; exit 2 ;;
  esac
done

if [[ -z ${JAVA_HOME:-} || ! -x $JAVA_HOME/bin/jlink ]]; then JAVA_HOME=$(ls -d /usr/lib/jvm/temurin-25* 2>/dev/null | head -n 1); fi
export JAVA_HOME
command -v nvcc >/dev/null || [[ -x /usr/local/cuda/bin/nvcc ]] || { echo "device.sh: nvcc is needed to build the CUDA kernels" >&2; exit 2; }

echo "== building (kernels, jar, test classes)"
./mvnw -q -B -DskipTests package
./mvnw -q -B test-compile
unzip -l target/kiln.jar kiln/cuda/kernels.fatbin >/dev/null 2>&1 || { echo "device.sh: target/kiln.jar has no kernels.fatbin" >&2; exit 1; }

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

# Modules of the server and the benchmark as well as the tests (jdeps --print-module-deps over kiln.jar and
# target/lib says: java.net.http for the benchmark's client, java.desktop for java.beans (jinjava), java.sql,
# java.management/jdk.management (metrics), java.naming, java.compiler and java.instrument (annotations and
# agents some libraries reference); jdk.attach/jdk.jdi only serve agents and stay out). Jetty needs no
# jdk.httpserver. The runtime is rebuilt when this list changes.
modules=java.base,jdk.incubator.vector,java.logging,jdk.unsupported
flavour=slim
if (( serve )); then
  modules=$modules,java.net.http,java.desktop,java.sql,java.management,jdk.management,java.naming,java.compiler,java.instrument
  flavour=serve
fi
jre=$cache/jre-$flavour
if [[ ! -x $jre/jre/bin/java || $(cat "$jre/modules" 2>/dev/null) != "$modules" ]]; then
  echo "== building the Java runtime ($flavour: jlink; a minute or two)"
  rm -rf "$jre" && mkdir -p "$jre"
  KILN_JRE_MODULES=$modules /work/shared/tools/device-jre.sh "$jre/build" >/dev/null \
    || KILN_JRE_MODULES=$modules ../shared/tools/device-jre.sh "$jre/build" >/dev/null
  tar xJf "$jre/build/jre.tar.xz" -C "$jre" && rm -rf "$jre/build"
  strip --strip-unneeded "$jre/jre/lib/server/libjvm.so" 2>/dev/null || true
  # headless: java.beans needs java.desktop's classes, not its font, image, sound or X11 libraries
  rm -f "$jre"/jre/lib/lib{fontmanager,freetype,awt_xawt,mlib_image,lcms,splashscreen,javajpeg,jsound}.so
  echo "$modules" > "$jre/modules"
  "$jre/jre/bin/java" -version 2>&1 | head -n 1
fi
cp -a "$jre/jre" "$stage/jre"

(cd target/test-classes && "$JAVA_HOME/bin/jar" --create --file "$stage/lib/kiln-tests.jar" kiln)
if [[ -n $alt_flags ]]; then
  echo "== building the alternative kernels ($alt_flags)"
  rm -rf "$cache/alt" && KILN_NVCC_FLAGS=$alt_flags scripts/build-kernels.sh "$cache/alt"
  cp "$cache/alt/kiln/cuda/kernels.fatbin" "$stage/lib/kernels-alt.fatbin"
fi
# every runtime dependency (kiln serve and kiln bench run on the GPU machine) except the chart library, which
# only `kiln sweep`'s HTML report loads
if (( serve )); then
  cp target/kiln.jar "$stage/lib/"
  for j in target/lib/*.jar; do [[ $(basename "$j") == jfreechart-* ]] || cp "$j" "$stage/lib/"; done
  (( junit )) && cp "$console" "$stage/lib/"
else
  cp target/kiln.jar target/lib/jackson-*.jar target/lib/picocli-*.jar "$console" "$stage/lib/"
fi
# store jars uncompressed: xz over raw class files beats xz over deflated ones by a third
python3 - "$stage/lib" <<'PY'
import os, sys, zipfile
d = sys.argv[1]
for name in os.listdir(d):
    if not name.endswith(".jar"): continue
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
cp scripts/device/run.sh scripts/device/torch_bench.py scripts/device/serve_bench.sh scripts/device/serve_lib.sh scripts/device/r1_tp8.sh scripts/device/ncu_summary.py \
  scripts/device/compare_builds.sh "$dev/"
chmod +x "$dev/run.sh" "$dev/compare_builds.sh"
if [[ -n $other_build ]]; then
  [[ -f $other_build/target/kiln.jar && -d $other_build/target/test-classes ]] \
    || { echo "device.sh: --other-build $other_build has no target/kiln.jar and target/test-classes (build it there first)" >&2; exit 2; }
  mkdir -p "$dev/other"
  cp "$other_build/target/kiln.jar" "$dev/other/kiln.jar"
  # without its kernels (compare_builds.sh gives it the payload's): for comparing Java code whose kernels did not change
  [[ ${KILN_OTHER_KERNELS:-0} == 1 ]] || zip -q -d "$dev/other/kiln.jar" kiln/cuda/kernels.fatbin
  (cd "$other_build/target/test-classes" && "$JAVA_HOME/bin/jar" --create --file "$dev/other/kiln-tests.jar" kiln)
  echo "== other build: $other_build ($(git -C "$other_build" rev-parse --short HEAD 2>/dev/null || echo '?'))"
fi

if [[ $fixtures != none ]]; then
  [[ $fixtures == all ]] && fixtures=deepseek-v3-tiny,deepseek-v3-tiny-fp8,deepseek-v2-lite-tiny,qwen2-tiny,llama-tiny
  mkdir -p "$dev/fixtures"
  IFS=, read -ra names <<<"$fixtures"
  for n in "${names[@]}"; do
    [[ -d testdata/fixtures/$n ]] || { echo "device.sh: no fixture $n" >&2; exit 2; }
    cp -r "testdata/fixtures/$n" "$dev/fixtures/"
  done
fi
echo "== payload.tar.xz ($flavour) holds:"
du -sb "$stage/jre" "$stage/lib" | awk '{printf "  %8.2f MiB uncompressed  %s\n", $1/1048576, $2}'
ls "$stage/lib" | tr '\n' ' ' | fold -s -w 110 | sed 's/^/    /'; echo
rm -rf "$stage"
echo "== staged .device:"
find "$dev" -type f -printf '%s %p\n' | sort -n | awk '{printf "  %8.2f MiB  %s\n", $1/1048576, $2}' | tail -n 12
mib() { awk -v b="$1" 'BEGIN{printf "%.1f", b/1048576}'; }
# what travels: tracked and untracked-not-ignored files that exist now (some may be moved out: stat fails on those)
checkout=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | { xargs -0 -r stat -c %s 2>/dev/null || true; } | awk '{s+=$1} END{print s+0}')
device=$(du -sb "$dev" | cut -f1)
total=$(( checkout + device ))
echo "== size of a device call: working tree $(mib "$checkout") MiB + .device $(mib "$device") MiB = $(mib "$total") MiB of 64 MiB"
echo "   largest tracked paths present:"
git ls-files -z | { xargs -0 -r stat -c '%s %n' 2>/dev/null || true; } | awk '{split($2,p,"/"); k=p[1]"/"p[2]"/"p[3]; s[k]+=$1} END{for (k in s) printf "%d %s\n", s[k], k}' \
  | sort -rn | head -n 6 | awk '{printf "     %8.2f MiB  %s\n", $1/1048576, $2}'
(( total < 64 * 1048576 )) || echo "   OVER the limit: move testdata/fixtures (or the fixtures this call does not read) out of the tree for it (see docs/cuda.md)"
echo "Run on the GPU machine: bash .device/run.sh [SECTION...]   (carry: .device; run.sh --help lists the sections)"
