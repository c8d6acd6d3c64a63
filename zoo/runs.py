"""Run directories: what one training run leaves behind, written atomically, read back safely.

    config.json          model, plugin, resolved config, data provenance, world size, versions
    checkpoint.pt        resumable state (tensors and plain containers; loaded with weights_only=True)
    weights.safetensors  the final weights
    history.jsonl        one JSON record per epoch
    metrics.json         the final evaluation on the test split, with its provenance
    state.json           running / interrupted / failed / complete, and epochs done
"""
from __future__ import annotations

import json
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.fsutil import atomic_write, atomic_write_bytes, atomic_write_json, read_json

CONFIG, CHECKPOINT, WEIGHTS = "config.json", "checkpoint.pt", "weights.safetensors"
HISTORY, METRICS, STATE = "history.jsonl", "metrics.json", "state.json"
DEFAULT_ROOT = Path("runs")


class RunError(ZooError):
    """A run directory or one of its files is missing, damaged or not what it claims."""


def new_run_dir(model: str, out: str | Path | None, force: bool) -> Path:
    """The folder for a new run: ``out`` or runs/<model>-<time>; an existing run is kept unless ``force``."""
    path = Path(out) if out is not None else DEFAULT_ROOT / f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    if path.exists() and not path.is_dir():
        raise RunError(f"{path} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()):
        if not force:
            raise RunError(f"{path} already holds files; choose another --out or pass --force to replace them")
        for name in (CONFIG, CHECKPOINT, WEIGHTS, HISTORY, METRICS, STATE):
            (path / name).unlink(missing_ok=True)
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Run:
    """An existing run directory."""

    path: Path
    record: dict[str, Any]

    @property
    def model(self) -> str:
        return self.record["model"]

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.record["config"])

    @property
    def data_path(self) -> str | None:
        return self.record["data"].get("path")

    def metrics(self) -> dict[str, Any]:
        return _read_json(self.path / METRICS, "metrics")

    def state(self) -> dict[str, Any]:
        path = self.path / STATE
        return _read_json(path, "state") if path.exists() else {"status": "unknown"}

    def history(self) -> list[dict[str, Any]]:
        path = self.path / HISTORY
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def load_weights(self, model) -> None:
        """Load weights.safetensors into ``model`` (strict: every tensor must match)."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = self.path / WEIGHTS
        if not path.exists():
            raise RunError(f"{path}: no weights (did training finish? resume with zoo train --resume {self.path})")
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise RunError(f"{path}: truncated or not a safetensors file ({exc})") from None
        _load_state(model, tensors, path)

    def load_checkpoint(self, device: str = "cpu") -> dict[str, Any]:
        return load_checkpoint(self.path / CHECKPOINT, device)


def _load_state(model, tensors: dict, path: Path) -> None:
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise RunError(f"{path}: weights do not fit the model ({first[1].strip() if len(first) > 1 else first[0]})") from None


def load_checkpoint(path: Path, device: str = "cpu") -> dict[str, Any]:
    """Read a checkpoint without ever running code from it (``weights_only=True``)."""
    import torch

    if not path.exists():
        raise RunError(f"{path}: no checkpoint to resume from")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsupported content"
        raise RunError(f"{path}: refused: it holds objects that could run code when loaded ({reason[:160]})") from None
    except Exception as exc:  # truncated zip, not a torch file at all, ...
        raise RunError(f"{path}: truncated or not a zoo checkpoint ({type(exc).__name__}: {str(exc)[:160]})") from None
    if not isinstance(state, dict) or not {"epoch", "model", "optimizers", "history"} <= set(state):
        raise RunError(f"{path}: not a zoo checkpoint (missing fields)")
    return state


def _read_json(path: Path, what: str) -> Any:
    if not path.exists():
        raise RunError(f"{path}: no {what} file")
    try:
        return read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: damaged {what} file ({exc})") from None


def open_run(path: str | Path) -> Run:
    """An existing run directory, checked to hold a zoo run record."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such run directory")
    record = _read_json(path / CONFIG, "run config")
    if not isinstance(record, dict) or not {"model", "config", "data"} <= set(record):
        raise RunError(f"{path / CONFIG}: not a zoo run record")
    return Run(path, record)


def write_record(path: Path, record: dict[str, Any]) -> None:
    atomic_write_json(path / CONFIG, record)


def write_state(path: Path, status: str, epochs_done: int, **extra: Any) -> None:
    atomic_write_json(path / STATE, {"status": status, "epochs_done": epochs_done, **extra})


def write_history(path: Path, history: list[dict[str, Any]]) -> None:
    atomic_write_bytes(path / HISTORY, "".join(json.dumps(r) + "\n" for r in history).encode())


def write_metrics(path: Path, payload: dict[str, Any]) -> None:
    atomic_write_json(path / METRICS, payload)


def write_weights(path: Path, model) -> None:
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(path / WEIGHTS, lambda tmp: save_file(tensors, str(tmp), metadata={"format": "pt"}))
