"""A bundle as a ``ServableModel``: the deployer's API (``zoo.bundle.runtime``) behind the protocol the server
speaks, the one place the server touches bundles.

Imports numpy, ``zoo.bundle.runtime`` (onnxruntime, never torch) and ``zoo.serve.model``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from zoo.bundle import Bundle
from zoo.bundle.runtime import LoadedModel, load
from zoo.serve.model import TensorSpec


class BundleModel:
    """A loaded bundle's graph (``zoo.bundle.runtime.LoadedModel``), with its tensors as the protocol names them."""

    version = "1"
    platform = "onnxruntime_onnx"

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.name = loaded.name
        self.inputs = tuple(TensorSpec.from_manifest(i) for i in loaded.inputs)
        self.outputs = tuple(TensorSpec.from_manifest(o) for o in loaded.outputs)
        self.class_names = loaded.class_names

    def check(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.loaded.check(feeds)

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.loaded.run(feeds)

    def probabilities(self, outputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.loaded.probabilities(outputs)


def load_bundle_model(source: str | Path | Bundle, public_key: str | Path | None = None, threads: int = 1,
                      key: Any = None) -> BundleModel:
    """The bundle ``source`` (a folder, or a ``Bundle`` the caller opened: a published model by name) ready to
    serve: its signature (with ``public_key``) and checksums checked first, decrypted in memory with ``key``.

    ``threads``: ONNX Runtime's intra-op threads for the session (1 serves small models fastest on few cores).
    """
    return BundleModel(load(source, public_key=public_key, key=key, threads=threads))
