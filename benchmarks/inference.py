"""PyTorch eager against ONNX Runtime CPU for each built-in model, at batch 1 and batch 256.

Latency (median ms per call), throughput (samples/s) and the speed-up of ONNX Runtime over eager,
both given the same number of threads. Target: at least 4x at batch 1 for the CNN and RNN families.
Graphs come from the default exporter.
Run: python benchmarks/inference.py [--models a,b] [--budget SECONDS] [--threads N]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _onnx import export_quietly, inputs_for, main_graph, session  # noqa: E402
from zoo.bundle.deployment import median_seconds  # noqa: E402
from _table import report  # noqa: E402

from zoo.bundle.export import DEFAULT_EXPORTER, DEFAULT_OPSET  # noqa: E402
from zoo.registry import list_models  # noqa: E402

BATCHES = (1, 256)


def measure(name: str, folder: Path, budget: float, threads: int) -> list[list]:
    graph = main_graph(name)
    path = folder / f"{name}.onnx"
    export_quietly(graph, path, DEFAULT_EXPORTER)
    ort_session = session(path, threads)
    rows = []
    for batch in BATCHES:
        arrays = inputs_for(graph, batch)
        tensors = [torch.from_numpy(arrays[i.name]) for i in graph.inputs]

        def eager():
            with torch.inference_mode():
                graph.module(*tensors)

        torch_s = median_seconds(eager, budget)
        ort_s = median_seconds(lambda: ort_session.run(None, arrays), budget)
        rows.append([name, graph.name, batch, torch_s * 1e3, ort_s * 1e3, batch / torch_s, batch / ort_s,
                     torch_s / ort_s])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", help="comma-separated model names (default: every built-in model)")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of timing per measurement")
    parser.add_argument("--threads", type=int, default=1, help="threads for PyTorch and for ONNX Runtime")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.models.split(",") if args.models else [s.name for s in list_models()]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row for name in names for row in measure(name, Path(tmp), args.budget, args.threads)]
    report("inference", ["model", "graph", "batch", "torch_ms", "ort_ms", "torch_per_s", "ort_per_s",
                         "ort_speedup"], rows,
           {"exporter": DEFAULT_EXPORTER, "opset": DEFAULT_OPSET, "threads": args.threads})


if __name__ == "__main__":
    main()
