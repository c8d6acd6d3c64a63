"""Export cost per model and per torch.onnx exporter, and what each exporter's graph costs at inference.

For each built-in model and each exporter (TorchScript-based, dynamo):
  zoo_export_s   whole-process wall time of `zoo export RUN --exporter E` (all graphs, checks, test vectors)
  graph_export_s in-process torch.onnx.export of the deployable graph
  ort_b1_ms      ONNX Runtime CPU latency of that graph at batch 1 (one thread)
  other_lengths  for graphs with a dynamic time axis: does ONNX Runtime match PyTorch at another length?
Target: zoo_export_s under 15 s per model. The runs are trained for one epoch with their evaluation
skipped (export time depends on neither).
Run: python benchmarks/export.py [--models a,b]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _onnx import export_quietly, inputs_for, main_graph, session  # noqa: E402
from zoo.bundle.deployment import median_seconds  # noqa: E402
from _table import report  # noqa: E402

import zoo.api  # noqa: E402
from zoo.bundle.export import EXPORTERS  # noqa: E402
from zoo.registry import list_models  # noqa: E402


def quick_run(name: str, folder: Path) -> Path:
    with mock.patch.object(zoo.api, "evaluate_model", lambda *args: {}):
        return zoo.api.train(name, epochs=1, out=folder / "runs" / name).path


def whole_process(run: Path, out: Path, exporter: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "zoo", "export", str(run), "--out", str(out), "--exporter", exporter],
                   check=True, capture_output=True)
    return time.perf_counter() - start


def other_lengths(graph, ort_session) -> str:
    """'n/a' without a time axis; else whether ONNX Runtime still matches PyTorch at other lengths."""
    axes = [a for i in graph.inputs for a in i.dynamic_axes if a]
    if not axes:
        return "n/a"
    for length in (3, 13):
        arrays = inputs_for(graph, 2, {axes[0]: length})
        with torch.no_grad():
            want = graph.module(*[torch.from_numpy(arrays[i.name]) for i in graph.inputs]).numpy()
        try:
            got = ort_session.run(None, arrays)[0]
        except Exception:
            return f"rejected at {length}"
        if not np.allclose(got, want, atol=1e-4, rtol=1e-3):
            return f"wrong at {length}"
    return "ok"


def measure(name: str, folder: Path) -> list[list]:
    run = quick_run(name, folder)
    graph = main_graph(name)
    rows = []
    for exporter in EXPORTERS:
        path = folder / f"{name}-{exporter}.onnx"
        start = time.perf_counter()
        export_quietly(graph, path, exporter)
        graph_s = time.perf_counter() - start
        ort_session = session(path, threads=1)
        arrays = inputs_for(graph, 1)
        ort_ms = median_seconds(lambda: ort_session.run(None, arrays), 0.5) * 1e3
        total = whole_process(run, folder / "exports" / f"{name}-{exporter}", exporter)
        rows.append([name, exporter, total, graph_s, ort_ms, other_lengths(graph, ort_session)])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", help="comma-separated model names (default: every built-in model)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = args.models.split(",") if args.models else [s.name for s in list_models()]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row for name in names for row in measure(name, Path(tmp))]
    report("export", ["model", "exporter", "zoo_export_s", "graph_export_s", "ort_b1_ms", "other_lengths"], rows,
           {"target_zoo_export_s": 15})


if __name__ == "__main__":
    main()
