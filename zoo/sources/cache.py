"""The array cache: data decoded once is kept as one .npz under ``$ZOO_HOME/data-cache/`` and reused
while its content is unchanged.

An entry is named by its content key: a SHA-256 over the cache format, the decoding rule and, file by
file, the relative path and the bytes, so any change to a file, the file list or the rule is a new key.
Entries are written atomically and read with ``allow_pickle=False``; an entry that does not read back
whole (damaged, cut short, another format) is ignored and written again, never trusted.

Imports: numpy, the standard library, ``zoo.fsutil``.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from zoo.errors import one_line
from zoo.fsutil import atomic_write, zoo_home

FORMAT = 1  # bump when what an entry holds changes: older entries are then never read
FOLDER = "data-cache"
META = "meta"


def cache_root() -> Path:
    """``$ZOO_HOME/data-cache`` (``zoo.fsutil.zoo_home``)."""
    return zoo_home() / FOLDER


class ContentKey:
    """The key of one input: fed the rule once, then every file's relative path and bytes, in order."""

    def __init__(self, kind: str, rule: Mapping[str, Any]) -> None:
        self._hash = hashlib.sha256(f"zoo-data-cache/{FORMAT}\0{kind}\0".encode())
        self._hash.update(json.dumps(rule, sort_keys=True).encode() + b"\0")

    def add(self, name: str, data: bytes) -> None:
        self._hash.update(name.encode() + b"\0" + len(data).to_bytes(8, "little"))
        self._hash.update(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def entry_path(key: str) -> Path:
    return cache_root() / f"{key}.npz"


def load(key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | str:
    """The arrays and metadata stored under ``key``, or why not: "absent" or "damaged (...)"."""
    path = entry_path(key)
    if not path.is_file():
        return "absent"
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive[META]))
            if meta.get("format") != FORMAT or meta.get("key") != key:
                return "damaged (written for another key or format)"
            arrays = {name: archive[name] for name in meta["arrays"]}
    except Exception as exc:  # a cut or altered file: zipfile, OSError, ValueError, KeyError, JSON ...
        return f"damaged ({one_line(exc)})"
    return arrays, meta


def store(key: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> str | None:
    """Write the entry for ``key`` atomically; ``None``, or why it was not written (the data is read
    all the same: a cache that cannot be written is not the user's data's fault)."""
    payload = {**meta, "format": FORMAT, "key": key, "arrays": sorted(arrays)}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays, **{META: np.array(json.dumps(payload))})

    try:
        atomic_write(entry_path(key), write)
    except Exception as exc:  # StorageError, a read-only ZOO_HOME ...
        return one_line(exc)
    return None
