"""A bundle as a ``ServableModel``, with what ``zoo.bundle`` offers today: the one place the server touches bundles.

Stand-in for the deployer API (``zoo.bundle.load``): when that lands, ``load_bundle_model`` becomes a call to
it and ``BundleModel`` goes. Imports numpy, onnxruntime, ``zoo.bundle`` and ``zoo.serve.model`` (and
``zoo.bundle.signing`` with a public key); never torch.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import onnxruntime as ort

from zoo.bundle import BundleError, Graph, open_bundle
from zoo.errors import one_line
from zoo.serve.model import TensorSpec

CLASSIFICATION = "classification"


class BundleModel:
    """The primary FP32 graph of a checked bundle, in one ONNX Runtime session (CPU)."""

    version = "1"
    platform = "onnxruntime_onnx"

    def __init__(self, name: str, graph: Graph, class_names: Sequence[str] | None, threads: int = 1) -> None:
        self.name, self.graph = name, graph
        self.inputs = tuple(TensorSpec.from_manifest(i) for i in graph.inputs)
        self.outputs = tuple(TensorSpec.from_manifest(o) for o in graph.entry["outputs"])
        self.class_names = class_names
        self._output_names = [o.name for o in self.outputs]
        options = ort.SessionOptions()
        options.log_severity_level = 4  # the reason reaches the error line, not a log on stderr
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(graph.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise BundleError(f"{graph.path}: onnxruntime cannot load graph {graph.name!r} ({one_line(exc)})") from None

    def check(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.graph.check_inputs(feeds)

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            return dict(zip(self._output_names, self._session.run(self._output_names, dict(feeds))))
        except Exception as exc:
            raise BundleError(f"onnxruntime failed to run model {self.name!r} ({one_line(exc)})") from None

    def probabilities(self, outputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Softmax of the logits (the one output), in float64 then back to float32, stable for large logits."""
        logits = np.asarray(outputs[self._output_names[0]], dtype=np.float64)
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)


def class_names(bundle_path: Path, manifest: Mapping, graph: Graph) -> list[str] | None:
    """A classifier's class names: config.json's ``data.class_names`` when recorded, else the class indices.

    A bundle is a classifier when its task says so and its graph has one output whose last axis is fixed.
    """
    outputs = graph.entry["outputs"]
    if manifest.get("task") != CLASSIFICATION or len(outputs) != 1 or not isinstance(outputs[0]["shape"][-1], int):
        return None
    count = outputs[0]["shape"][-1]
    config = (manifest.get("pytorch") or {}).get("config")
    recorded = None
    if config:  # checksummed by open_bundle, like every file the manifest names
        recorded = (json.loads((bundle_path / config).read_text(encoding="utf-8")).get("data") or {}).get("class_names")
    if recorded is None:
        return [str(index) for index in range(count)]
    if not isinstance(recorded, list) or len(recorded) != count or not all(isinstance(n, str) for n in recorded):
        raise BundleError(f"{bundle_path / config}: data.class_names must list {count} names, one per output class")
    return recorded


def load_bundle_model(path: str | Path, public_key: str | Path | None = None, threads: int = 1) -> BundleModel:
    """The bundle at ``path`` ready to serve: its signature (with ``public_key``) and checksums checked first.

    ``threads``: ONNX Runtime's intra-op threads for the session (1 serves small models fastest on few cores).
    """
    if public_key is not None:
        from zoo.bundle.signing import verify_signature

        verify_signature(path, public_key)
    bundle = open_bundle(path)
    graph = bundle.graph()
    return BundleModel(bundle.manifest["model"], graph, class_names(bundle.path, bundle.manifest, graph), threads)
