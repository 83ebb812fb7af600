#!/usr/bin/env bash
# The CUDA check (issue 17), one call on a lent GPU machine with no network. From the repository root:
#
#   python -m stagelens_dev.gpu.prepare          # here, on a CPU machine: makes .gpu/ (about 5 MiB)
#   device run, carry [".gpu"]:  bash app/stagelens_dev/gpu/gpu_check.sh
#
# It installs what .gpu/ carries, builds llama-cpp-python with CUDA for this GPU only and our extension
# against it, then runs `stagelens models gpu`, the engine tests with every layer offloaded, the parity
# check against the CPU build's reference and the bench at beams 1-16, writing everything to $OUT.
# Rehearsal on a CPU machine (same steps, CUDA off): GPU_CHECK_CUDA=0 BEAMS=1,2 OUT=/tmp/out bash ...
set -uo pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-/tmp/gpu-check-out}
CUDA=${GPU_CHECK_CUDA:-1}
BEAMS=${BEAMS:-1,2,4,8,16}
LAYERS=${GPU_CHECK_LAYERS:--1}
JOBS=${GPU_CHECK_JOBS:-$(nproc)}
SITE=${GPU_CHECK_SITE:-/tmp/gpu-check-site}
mkdir -p "$OUT" "$SITE"
exec > >(tee "$OUT/log.txt") 2>&1
started=$(date +%s)
step() { echo "=== [$(( $(date +%s) - started )) s] $*"; }
status=0

step "install the carried wheels"
python3 -m pip install -q --no-index --no-deps --no-compile --target "$SITE" .gpu/wheels/*.whl || exit 2

step "build llama-cpp-python (CUDA=$CUDA) with $JOBS jobs"
if [ "$CUDA" = 1 ]; then
    arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)
    export CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=${arch:-90} -DGGML_NATIVE=ON"
else
    export CMAKE_ARGS="-DGGML_NATIVE=ON"
fi
export CMAKE_BUILD_PARALLEL_LEVEL=$JOBS
python3 -m pip install -q --no-index --no-deps --no-build-isolation --target "$SITE" .gpu/llama_cpp_python-*-slim.tar.gz \
    || exit 3
export PYTHONPATH="$SITE:$PWD/app:$PWD"

step "build the StageLens extension against it"
python3 setup.py -q build_ext --inplace || exit 4

step "make the bench test model"
bench_dir=/tmp/gpu-check-models
python3 -m stagelens make-test-model --preset bench --out "$bench_dir" > "$OUT/bench_model.txt" || status=5
bench_text=$(sed -n 's/^text model: *//p' "$OUT/bench_model.txt")
bench_mmproj=$(sed -n 's/^mmproj: *//p' "$OUT/bench_model.txt")

step "stagelens models gpu"
python3 -m stagelens models gpu --model "$bench_text" --mmproj "$bench_mmproj" --json > "$OUT/models_gpu.json" || status=6
cat "$OUT/models_gpu.json"

step "engine tests with n_gpu_layers=$LAYERS"
STAGELENS_TEST_N_GPU_LAYERS=$LAYERS python3 -m pytest -q -p no:cacheprovider tests/engine > "$OUT/engine_tests.txt" 2>&1 || status=7
tail -3 "$OUT/engine_tests.txt"

step "parity with the CPU build"
python3 -m stagelens_dev.gpu.parity --reference .gpu/cpu_reference.json --n-gpu-layers "$LAYERS" > "$OUT/parity.json" || status=8
cat "$OUT/parity.json"

step "bench at beams $BEAMS (logprob, then judge at 2 and 4), VRAM sampled every 200 ms"
if [ "$CUDA" = 1 ]; then
    nvidia-smi --query-gpu=memory.used,memory.total --format=csv,noheader,nounits -lms 200 > "$OUT/vram.csv" &
    sampler=$!
fi
python3 -m stagelens bench --model "$bench_text" --mmproj "$bench_mmproj" --n-gpu-layers "$LAYERS" --beams "$BEAMS" \
    --json > "$OUT/bench_logprob.json" || status=9
python3 -m stagelens bench --model "$bench_text" --mmproj "$bench_mmproj" --n-gpu-layers auto --beams 1 \
    --no-reference --json > "$OUT/bench_auto.json" || status=10
python3 -m stagelens bench --model "$bench_text" --mmproj "$bench_mmproj" --n-gpu-layers "$LAYERS" --beams 2,4 \
    --scorer judge --json > "$OUT/bench_judge.json" || status=11
[ -n "${sampler:-}" ] && kill "$sampler"
python3 -m stagelens_dev.gpu.summary "$OUT" > "$OUT/summary.md" || status=12
cat "$OUT/summary.md"
step "done, status $status"
exit $status
