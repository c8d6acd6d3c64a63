"""The versions and the hardware a run record, an export manifest and a timing carry.

Reading metadata imports none of the packages: training never loads onnx or onnxruntime
just to name their versions. The hardware is recorded because the same seed reproduces a number
exactly only on the same kind of processor: floating-point sums run in another order elsewhere.
"""
from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

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


def _cpu_model() -> str:
    """The processor's model name (Linux: /proc/cpuinfo; elsewhere what platform reports)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: str | None = None) -> dict[str, object]:
    """What measured a number: the CPU model, its logical cores, the threads torch computes with (when torch
    is loaded) and the GPU when ``device`` is a CUDA device."""
    found: dict[str, object] = {"cpu": _cpu_model(), "machine": platform.machine(), "logical_cpus": os.cpu_count(),
                                "system": platform.system()}
    torch = sys.modules.get("torch")
    if torch is not None:
        found["torch_threads"] = torch.get_num_threads()
        if device and str(device).startswith("cuda") and torch.cuda.is_available():
            found["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return found
