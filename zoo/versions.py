"""The versions a run record and an export manifest carry, read from installed package metadata.

Reading metadata imports none of the packages: training never loads onnx or onnxruntime
just to name their versions.
"""
from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

from zoo import __version__

# Import name -> the distributions that provide it (onnxruntime ships under several names).
DISTRIBUTIONS = {
    "torch": ("torch",),
    "numpy": ("numpy",),
    "onnx": ("onnx",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino"),
}


def _installed(distributions: tuple[str, ...]) -> str | None:
    for name in distributions:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return None


def versions() -> dict[str, str | None]:
    """zoo, torch, numpy, onnx, onnxruntime and python versions (None for a package not installed)."""
    return {"zoo": __version__, **{key: _installed(names) for key, names in DISTRIBUTIONS.items()},
            "python": platform.python_version()}
