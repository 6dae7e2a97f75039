#!/usr/bin/env bash
# The GPU check, on a machine with an NVIDIA GPU and a CUDA 13 driver (run from the bundle's folder; see
# cuda-engine/gpu-check/README.md). Finds CUDA 13 / cuBLAS 13 / cuDNN 9 (system packages, or NVIDIA's Python
# wheels beside PyTorch), prints the device and versions, compares crmn-demo's probabilities with the CPU's
# (strict FP32, TF32 off) and measures images/s at batch 1, 64, 256 and 1024 for crmn-demo and crmn-28-10 in
# strict FP32 and with TF32. Results: gpu-check-fp32.json and gpu-check-tf32.json in $1 (default: here).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
results="${1:-$here}"
mkdir -p "$results"
started=$(date +%s)

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

# Candidate folders, most specific first: CUDA_HOME, the CUDA toolkit, Python wheels, the driver's folders.
dirs=()
[ -n "${CUDA_HOME:-}" ] && dirs+=("$CUDA_HOME/lib64" "$CUDA_HOME/lib")
for d in /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do dirs+=("$d"); done
for py in python3 /opt/torch/.venv/bin/python3; do
  if command -v "$py" >/dev/null 2>&1; then
    while read -r sp; do
      for d in "$sp"/nvidia/*/lib "$sp"/nvidia/cu13/lib; do dirs+=("$d"); done
    done < <("$py" -c 'import site,sys; print("\n".join(site.getsitepackages()+[site.getusersitepackages()]))' 2>/dev/null)
  fi
done
dirs+=(/usr/lib/x86_64-linux-gnu /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib64)
libs=(libcuda.so.1 libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcudnn.so.9 libcudnn_cnn.so.9
      libcudnn_ops.so.9 libcudnn_adv.so.9 libcudnn_graph.so.9 libcudnn_engines_precompiled.so.9 libnvrtc.so.13
      libnvJitLink.so.13)
ld=""
add_dir() { case ":$ld:" in *":$1:"*) ;; *) ld="${ld:+$ld:}$1" ;; esac; }
missing=()
for lib in "${libs[@]}"; do
  hit=""
  for d in "${dirs[@]}"; do [ -e "$d/$lib" ] && { hit="$d"; break; }; done
  if [ -n "$hit" ]; then
    echo "found $lib in $hit ($(basename "$(readlink -f "$hit/$lib")"))"; add_dir "$hit"
  else
    missing+=("$lib")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then # one search of the whole file system for what the usual folders lack
  expr=(); for lib in "${missing[@]}"; do expr+=(-o -name "$lib"); done
  while read -r f; do
    echo "found $(basename "$f") in $(dirname "$f")"; add_dir "$(dirname "$f")"
  done < <(timeout 60 find / -xdev \( "${expr[@]:1}" \) -not -path '/proc/*' 2>/dev/null | sort -u)
fi
export LD_LIBRARY_PATH="$ld${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
java="$here/jre/bin/java"
[ -x "$java" ] || java=java
"$java" -version 2>&1 | head -1
cp="$here/lib/*"
opts=(-Xmx8g --enable-native-access=ALL-UNNAMED -Djava.library.path="$LD_LIBRARY_PATH" -Dorg.bytedeco.javacpp.cachedir="$here/.javacpp")
data="$here/data"

echo "== strict FP32 (NVIDIA_TF32_OVERRIDE=0): comparison with the CPU, then speed"
NVIDIA_TF32_OVERRIDE=0 timeout 200 "$java" "${opts[@]}" -cp "$cp" dev.crmn.cuda.GpuCheck --precision fp32 \
  --reference "$data/crmn-demo.reference" --weights "$data/crmn-demo.weights" --tolerance 1e-4 \
  --kinds --layouts nchw,nhwc --bench "$data/crmn-demo.weights" --bench preset:crmn-28-10 --seconds 0.8 --out "$results/gpu-check-fp32.json"
fp32=$?
if [ $fp32 -eq 3 ]; then # the libraries did not load: show JavaCPP's own reasons
  "$java" "${opts[@]}" -Dorg.bytedeco.javacpp.logger.debug=true -cp "$cp" dev.crmn.cuda.GpuCheck 2>&1 | grep -i "fail" | head -8
fi
echo "== TF32 allowed: comparison (looser tolerance), 100 hot-swaps' memory, then speed"
timeout 200 "$java" "${opts[@]}" -cp "$cp" dev.crmn.cuda.GpuCheck --precision tf32 \
  --reference "$data/crmn-demo.reference" --weights "$data/crmn-demo.weights" --tolerance 1e-2 --swaps 100 \
  --kinds --layouts nchw,nhwc --bench "$data/crmn-demo.weights" --bench preset:crmn-28-10 --seconds 0.8 --out "$results/gpu-check-tf32.json"
tf32=$?
echo "== done in $(( $(date +%s) - started )) s: fp32 exit $fp32, tf32 exit $tf32"
[ $fp32 -eq 0 ] && [ $tf32 -eq 0 ]
