"""zoo: a plugin-based model zoo for PyTorch.

Importing ``zoo`` is cheap (no torch): the heavy parts load when first used.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

import pluggy

from zoo.specs import DatasetSpec, ModelSpec

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("zoo")

# Public API resolved lazily so that ``import zoo`` never pulls in torch.
_LAZY = {
    "list_models": "zoo.registry",
    "get_model": "zoo.registry",
    "list_datasets": "zoo.registry",
    "create_model": "zoo.api",
    "train": "zoo.api",
    "evaluate": "zoo.api",
    "ZooError": "zoo.errors",
}

__all__ = ["DatasetSpec", "ModelSpec", "hookimpl", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
