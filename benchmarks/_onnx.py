"""Shared by the ONNX benchmarks: a model's main export graph, its inputs, quiet export, CPU sessions."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np


def main_graph(name: str):
    """The (untrained, default-sized) model's primary graph: latency does not depend on the weights."""
    from zoo.models import build, load_model_data, onnx_graphs
    from zoo.config import resolve
    from zoo.graphs import primary
    from zoo.registry import get_model

    spec = get_model(name)
    config = resolve(spec.default_config, {})
    info = load_model_data(spec).info
    model = build(spec, config, info).eval()
    return primary(onnx_graphs(spec, model, info, config))


def inputs_for(graph, batch: int, lengths: dict[int, int] | None = None) -> dict[str, np.ndarray]:
    """Fresh inputs drawn as the graph declares; ``lengths`` changes non-batch axes (axis -> size)."""
    from zoo.bundle import random_inputs

    specs = []
    for i in graph.inputs:
        shape = ["batch", *((lengths or {}).get(a, n) for a, n in enumerate(i.example.shape) if a)]
        specs.append({"name": i.name, "dtype": str(i.example.numpy().dtype), "distribution": i.distribution,
                      "low": i.low, "high": i.high, "shape": shape})
    return random_inputs(specs, batch, {}, seed=batch)


def export_quietly(graph, path: Path, exporter: str) -> None:
    """Export with the zoo's settings, the exporter's own output kept out of the table."""
    from zoo.bundle.export import DEFAULT_OPSET, captured_output, export_graph

    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        with captured_output(Path(log.name)):
            export_graph(graph, path, DEFAULT_OPSET, exporter)


def session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 4  # a graph that rejects a length is reported in the table, not on stderr
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
