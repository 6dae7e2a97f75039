#!/usr/bin/env bash
# Builds the GPU check bundle (cuda-engine/gpu-check/README.md) in cuda-engine/target/gpu-check:
#   jre/    a jlinked Java runtime (Temurin 25: needs only glibc >= 2.17 on the GPU machine)
#   lib/    the CUDA engine and its jars (JavaCPP 1.5.14, the CUDA 13.3 / cuDNN 9.25 presets' JNI wrappers)
#   data/   crmn-demo's serving weights and a reference of real CIFAR-10 test images with the CPU's probabilities
#   run.sh  what runs on the GPU machine
# Usage: cuda-engine/gpu-check/make-bundle.sh [IMAGES_FILE] [COUNT]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# the CIFAR-10 test images the tools find ($CRMN_CIFAR10_DIR, data/cifar10, ../shared/datasets/cifar10, the sample)
images="${1:-}"
if [ -z "$images" ]; then
  for d in "${CRMN_CIFAR10_DIR:-}" "$root/data/cifar10" "$root/../shared/datasets/cifar10" "$root/data/cifar10-sample"; do
    if [ -n "$d" ] && [ -f "$d/test_batch.bin" ]; then images="$d/test_batch.bin"; break; fi
  done
fi
count="${2:-256}"
jdk="${CRMN_JLINK_JDK:-/usr/lib/jvm/temurin-25-jdk-amd64}"
out="$root/cuda-engine/target/gpu-check"
cd "$root"
mvn -B -q -Dstyle.color=never -pl model,cuda-engine -am install -DskipTests
rm -rf "$out" && mkdir -p "$out/lib" "$out/data"
"$jdk/bin/jlink" --add-modules java.base,java.management,jdk.unsupported --strip-debug --no-header-files \
  --no-man-pages --compress=zip-9 --strip-native-debug-symbols=objcopy=/usr/bin/objcopy --output "$out/jre"
cp cuda-engine/target/crmn-cuda-*.jar cuda-engine/target/lib/*.jar "$out/lib/"
mvn -B -q -Dstyle.color=never -pl model dependency:build-classpath -Dmdep.outputFile="$out/model.cp" >/dev/null
java -Xmx4g -cp "model/target/classes:$(cat "$out/model.cp")" dev.crmn.model.infer.GpuCheckInputs \
  models/crmn-demo "$images" "$count" "$out/data"
rm "$out/model.cp"
cp cuda-engine/gpu-check/run.sh "$out/run.sh"
du -sh "$out" "$out"/*
