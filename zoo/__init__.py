"""zoo: a plugin-based model zoo for PyTorch.

Importing ``zoo`` is cheap (no torch): the heavy parts load when first used.

The plugin API is ``PLUGIN_API``: the modules a plugin may import (a test holds the built-in
plugins and the example to it). Every other module of zoo is internal and may change.

ONNX Runtime 1.29 and later send usage telemetry from Linux too, on by default in the official wheels
(microsoft/onnxruntime#27379: session events naming the model's file, graph and weight hashes, to a Microsoft
collector, with a device id kept in the home folder). zoo turns it off before anything of it imports ONNX
Runtime (``ORT_DISABLE_TELEMETRY=1``) unless the variable is already set: a deployer's models are theirs.
"""
from __future__ import annotations

import os
from importlib import import_module
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # before any onnxruntime import; see the docstring

from zoo.hookspecs import hookimpl
from zoo.specs import DatasetSpec, ModelSpec

__version__ = "0.1.0"


PLUGIN_API = (
    "zoo",            # hookimpl, ModelSpec, DatasetSpec
    "zoo.hookspecs",  # the contract: every hook, how results combine
    "zoo.specs",      # ModelSpec, DatasetSpec
    "zoo.graphs",     # OnnxGraph, GraphInput, Tolerance, graph roles
    "zoo.data",       # Arrays, Data, DataInfo, DataError
    "zoo.training",   # fit, TrainContext, predict_batches
    "zoo.recipes",    # optimizer, cosine_schedule, train_classifier, evaluate_classifier
    "zoo.metrics",    # classification, reconstruction and generation metrics
    "zoo.errors",     # ZooError and the one-line error texts
    "zoo.assess",     # Assessment, Context, Result, Table, Figure: measurements for the card
    "zoo.plots",      # pyplot, save_png, picture, strip, row_pairs: figures drawn as the core draws them
    "zoo.membership", # loss-threshold membership-inference attack (sample_losses, threshold_attack)
    "zoo.sources",    # readers of data as people hold it (.ts, CSV, image folders): for a dataset plugin's load()
)

# Public API resolved lazily so that ``import zoo`` never pulls in torch.
_LAZY = {
    "list_models": "zoo.registry",
    "get_model": "zoo.registry",
    "list_datasets": "zoo.registry",
    "create_model": "zoo.api",
    "train": "zoo.api",
    "evaluate": "zoo.api",
    "load_bundle": "zoo.hub.index",  # the deployer's API: torch-free answers from a bundle (zoo.bundle.runtime)
    "ZooError": "zoo.errors",
}

__all__ = ["DatasetSpec", "ModelSpec", "PLUGIN_API", "hookimpl", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
