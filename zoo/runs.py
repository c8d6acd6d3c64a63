"""Run directories: what one training run leaves behind, written atomically, read back safely.

    config.json          model, plugin, resolved config, data provenance, world size, versions
    checkpoint.pt        resumable state (tensors and plain containers; loaded with weights_only=True)
    weights.safetensors  the final weights
    history.jsonl        one JSON record per epoch
    metrics.json         the final evaluation on the test split, with its provenance
    state.json           running / interrupted / failed / complete, and epochs done
    .lock                held (flock) by the one process writing the run, for as long as it lives

A run directory is claimed by exactly one process: default names are created with an
exclusive mkdir (a second run started in the same second gets ``-2``), and every writer
holds an exclusive lock on ``.lock`` until it exits, so two processes given one ``--out``
(or one ``--resume``) cannot both write it.
"""
from __future__ import annotations

import fcntl
import json
import os
import pickle
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.fsutil import atomic_write, atomic_write_bytes, atomic_write_json, disk_space, read_json

CONFIG, CHECKPOINT, WEIGHTS = "config.json", "checkpoint.pt", "weights.safetensors"
# A bundle ships its weights with the run record's portable part under the same file name, marked with
# this format: a run record has none, so a bundle is never taken for a run (and written into).
WEIGHTS_FORMAT = "zoo-weights/1"
HISTORY, METRICS, STATE = "history.jsonl", "metrics.json", "state.json"
LOCK = ".lock"
RUN_FILES = (CONFIG, CHECKPOINT, WEIGHTS, HISTORY, METRICS, STATE)
# Folders made from a run's weights (its assessments, its card): stale once the run is trained again.
ASSESSMENTS, CARD_DIR = "assessments", "card"
DERIVED = (ASSESSMENTS, CARD_DIR)
DEFAULT_ROOT = Path("runs")
_claimed: dict[Path, int] = {}  # run directory -> the open, locked .lock (released when the process exits)


class RunError(ZooError):
    """A run directory or one of its files is missing, damaged or not what it claims."""


def run_id(path: str | Path) -> str:
    """The name a run goes by wherever it is quoted (cards, other runs' records): its directory's name
    (``runs/cnn-digits`` -> ``cnn-digits``), never a path of this machine."""
    return Path(path).resolve().name


def claim(path: Path) -> None:
    """Hold ``path`` for this process until it exits; another process holding it is one error line."""
    path = Path(path)
    if path.resolve() in _claimed:
        return
    with disk_space(path / LOCK):
        fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise RunError(f"{path} is being written by another zoo process; wait for it, or choose another --out") \
            from None
    _claimed[path.resolve()] = fd


def claimed(path: Path) -> bool:
    """Whether this process already holds ``path`` (so that a nested step does not release it early)."""
    return Path(path).resolve() in _claimed


def release(path: Path) -> None:
    """Let another process write ``path`` (this process's claim ends; the .lock file stays)."""
    fd = _claimed.pop(Path(path).resolve(), None)
    if fd is not None:
        os.close(fd)


def _default_dir(model: str) -> Path:
    """runs/<model>-<time>, made with an exclusive mkdir: a name taken in the same second gets -2, -3 ..."""
    base = DEFAULT_ROOT / f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    base.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 10_000):
        path = base if attempt == 1 else base.with_name(f"{base.name}-{attempt}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RunError(f"{base}: no free run name left in this second")


def new_run_dir(model: str, out: str | Path | None, force: bool) -> Path:
    """The folder for a new run, claimed by this process: ``out`` or runs/<model>-<time>; an existing
    run is kept unless ``force``."""
    if out is None:
        path = _default_dir(model)
    else:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise RunError(f"{path} exists and is not a folder")
        with disk_space(path):
            path.mkdir(parents=True, exist_ok=True)
    claim(path)
    if any(p.name != LOCK for p in path.iterdir()):
        if not force:
            raise RunError(f"{path} already holds files; choose another --out or pass --force to replace them")
        for name in RUN_FILES:
            (path / name).unlink(missing_ok=True)
        for name in DERIVED:
            shutil.rmtree(path / name, ignore_errors=True)
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
        load_state(model, tensors, path)

    def load_checkpoint(self, device: str = "cpu") -> dict[str, Any]:
        return load_checkpoint(self.path / CHECKPOINT, device)


def load_state(model, tensors: dict, path: Path) -> None:
    """Load ``tensors`` into ``model`` with strict key checking; a mismatch names ``path`` in one line."""
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
    if isinstance(record, dict) and record.get("format") == WEIGHTS_FORMAT:
        raise RunError(f"{path} is a bundle, not a run: give the run it was exported from (zoo train writes one)")
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
