#!/usr/bin/env bash
# Check the optional CuPy backends (pipeline/gpu.py, synth/gpu.py) on a machine with a
# CUDA GPU: tests/pipeline/test_gpu.py, tests/synth/test_synth_gpu.py,
# tests/shared/test_cuda.py, then the GPU benchmark (cupy against numba on the same data).
#
# Run from the repository root, with the system's python3 (CuPy, numpy, scipy,
# numba, pytest and pytest-benchmark installed; the project need not be: the
# script lays out the trixanes namespace under a temporary folder of links):
#
#     OUT=/some/dir bash bench/gpu_check.sh
#
# Writes under $OUT (default /tmp/gpu_check): env.txt, test_gpu.log,
# test_synth_gpu.log, gpu_bench.log, gpu_bench.json, gpu_results.md. A few
# minutes on an H200 (numba compiles its kernels on the first run); each step
# has a time limit, 7 minutes in all.
set -u
OUT=${OUT:-/tmp/gpu_check}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
# the installed layout (pyproject's package-dir) without installing: trixanes/ with its
# subpackages linked in
PKG=$(mktemp -d)
trap 'rm -rf "$PKG"' EXIT
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "needs Python >= 3.11 (PYTHONSAFEPATH)"; exit 2; }
cp -r trixanes "$PKG/"
for sub in synth pipeline validate studies; do ln -s "$PWD/$sub" "$PKG/trixanes/$sub"; done
export PYTHONPATH="$PKG${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONSAFEPATH=1  # not the checkout's own trixanes/ (no subpackages) before $PKG
export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-/tmp/numba}  # the tree's __pycache__ may be read-only
export CUPY_CACHE_DIR=${CUPY_CACHE_DIR:-/tmp/cupy_kernels}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    nproc
    "$PY" - <<'EOF'
import sys
import cupy, numba, numpy
from trixanes._shared import cuda
import trixanes.synth.gpu  # noqa: F401  (imports, without the simulator's other dependencies)
print(f"python {sys.version.split()[0]}, cupy {cupy.__version__}, numpy {numpy.__version__}, "
      f"numba {numba.__version__} ({numba.get_num_threads()} threads)")
print("cupy_available:", cuda.cupy_available(), cuda.unavailable_reason(), "| device:", cuda.device_name())
EOF
} 2>&1 | tee "$OUT/env.txt"

echo "== tests/pipeline/test_gpu.py"
timeout 120 "$PY" -m pytest -q -rs -p no:cacheprovider tests/pipeline/test_gpu.py 2>&1 | tee "$OUT/test_gpu.log"
rc_test=${PIPESTATUS[0]}

echo "== tests/synth/test_synth_gpu.py tests/shared/test_cuda.py"
timeout 60 "$PY" -m pytest -q -rs -p no:cacheprovider tests/synth/test_synth_gpu.py tests/shared/test_cuda.py \
    2>&1 | tee "$OUT/test_synth_gpu.log"
rc_synth=${PIPESTATUS[0]}

echo "== tests/bench/test_bench_gpu.py (timed)"
timeout 240 "$PY" -m pytest -q -rs -p no:cacheprovider tests/bench/test_bench_gpu.py \
    --benchmark-enable --benchmark-only --benchmark-json "$OUT/gpu_bench.json" \
    --benchmark-columns=median,min,max,rounds 2>&1 | tee "$OUT/gpu_bench.log"
rc_bench=${PIPESTATUS[0]}

if [ -s "$OUT/gpu_bench.json" ]; then
    "$PY" bench/make_results.py "$OUT/gpu_bench.json" -o "$OUT/gpu_results.md" >/dev/null
    "$PY" - "$OUT/gpu_bench.json" <<'EOF'
import json, sys
from collections import defaultdict
groups = defaultdict(dict)
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    backend = "cupy" if "cupy" in b["extra_info"]["impl"] else "numba"
    groups[b["group"]][backend] = b
print(f"{'group':<20}{'numba (s)':>11}{'cupy (s)':>11}{'speed-up':>10}  cupy accuracy")
for g, d in groups.items():
    t = {k: v["stats"]["median"] for k, v in d.items()}
    up = f"{t['numba'] / t['cupy']:.1f}x" if len(t) == 2 else "-"
    acc = d.get("cupy", {}).get("extra_info", {}).get("accuracy", "")
    print(f"{g:<20}{t.get('numba', float('nan')):>11.4f}{t.get('cupy', float('nan')):>11.4f}{up:>10}  {acc}")
EOF
fi

echo "tests exit ${rc_test} (pipeline), ${rc_synth} (synth), benchmark exit ${rc_bench}; logs in $OUT"
[ "$rc_test" -eq 0 ] && [ "$rc_synth" -eq 0 ] && [ "$rc_bench" -eq 0 ]
