#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and onnxruntime-gpu: train (briefly) and export every built-in model,
# run `zoo verify --providers cpu,cuda --require cuda` on each bundle (CUDA strict: TF32 off, FP32
# tolerances; CUDA deployment: TF32 on, the looser declared tolerances), then time ONNX Runtime CPU
# against CUDA at batch 1 and 256. Exit status 1 if any bundle fails verification.
#
#   pip install onnxruntime-gpu   # in place of onnxruntime, same version as constraints.txt
#   benchmarks/gpu_parity.sh [OUT_DIR]        (env: PYTHON, EPOCHS)
set -euo pipefail
PY=${PYTHON:-python}
OUT=${1:-gpu-parity}
EPOCHS=${EPOCHS:-1}
nvidia-smi -L
"$PY" -c "import onnxruntime as o, sys; sys.exit(0 if 'CUDAExecutionProvider' in o.get_available_providers() else 'onnxruntime has no CUDAExecutionProvider: pip install onnxruntime-gpu')"
mkdir -p "$OUT"
models=$("$PY" -m zoo list --json | "$PY" -c "import json, sys; print(' '.join(m['name'] for m in json.load(sys.stdin)))")
status=0
for model in $models; do
  echo "== $model"
  "$PY" -m zoo train "$model" --epochs "$EPOCHS" --out "$OUT/runs/$model" --force --json > "$OUT/$model.train.json"
  "$PY" -m zoo export "$OUT/runs/$model" --out "$OUT/exports/$model" --force
  if "$PY" -m zoo verify "$OUT/exports/$model" --providers cpu,cuda --require cuda --json > "$OUT/$model.verify.json"; then
    echo "verified on cpu, cuda-strict and cuda-tf32"
  else
    status=1
  fi
done
"$PY" - "$OUT/exports" <<'PYTHON'
"""ONNX Runtime CPU against CUDA per bundle, main graph, batch 1 and 256 (median ms)."""
import sys
from pathlib import Path

import onnxruntime as ort

sys.path.insert(0, "benchmarks")
from _onnx import median_seconds
from _table import report
from zoo.bundle import open_bundle
from zoo.bundle import random_inputs

rows = []
for path in sorted(Path(sys.argv[1]).iterdir()):
    opened = open_bundle(path)
    graph = opened.graph("generator" if opened.manifest["task"] == "generation" else "model")
    sessions = {name: ort.InferenceSession(str(graph.path), providers=chain) for name, chain in {
        "cpu": ["CPUExecutionProvider"],
        "cuda": [("CUDAExecutionProvider", {"device_id": 0}), "CPUExecutionProvider"]}.items()}
    assert sessions["cuda"].get_providers()[0] == "CUDAExecutionProvider", "CUDA session fell back to CPU"
    for batch in (1, 256):
        inputs = random_inputs(graph.inputs, batch, {"time": 8}, seed=batch)
        cpu, cuda = (median_seconds(lambda: sessions[n].run(None, inputs)) * 1e3 for n in ("cpu", "cuda"))
        rows.append([opened.manifest["model"], graph.name, batch, cpu, cuda, cpu / cuda])
report("gpu_parity", ["model", "graph", "batch", "ort_cpu_ms", "ort_cuda_ms", "cuda_speedup"], rows)
PYTHON
exit $status
