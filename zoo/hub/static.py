"""`zoo hub DIR`: a hub as plain files, for any static web server or object store to serve.

The hub is the index and a copy of each bundle that opens cleanly (``zoo.hub.index.build_index``),
exactly the files the index lists and nothing else. It is written into a temporary folder beside
``DIR`` and renamed into place whole, so a server never serves half a hub. ``exports/`` after
``zoo publish`` is already a hub (it has its index); ``zoo hub`` makes a clean copy to upload.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from zoo.bundle import MANIFEST
from zoo.errors import one_line
from zoo.fsutil import atomic_write_json, disk_space, replace_dir, staging_dir
from zoo.hub import INDEX, HubError
from zoo.hub.index import build_index


def write_hub(dest: str | Path, exports: str | Path = "exports", cards: str | Path | None = None,
              force: bool = False) -> tuple[dict[str, Any], list[str]]:
    """Write the hub of every bundle under ``exports`` to ``dest``; returns its index and the notes of
    ``build_index`` (bundles left out, cards not used)."""
    typed, exports = dest, Path(exports)
    dest, source = _resolved(Path(dest)), _resolved(exports)  # staging and replacing work on the real folder
    if not exports.is_dir():
        raise HubError(f"{exports}: no such folder of bundles (zoo publish or zoo export writes one)")
    if source.is_relative_to(dest):
        raise HubError(f"{typed}: the hub must be a folder of its own, not the exports it is made from")
    here = _resolved(Path(os.curdir))
    if here.is_relative_to(dest):
        what = "is the current folder" if here == dest else f"holds the current folder {here}"
        raise HubError(f"{typed} {what}; zoo hub replaces its DIR whole: give a folder of its own")
    try:
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())) and not force:
            raise HubError(f"{typed} already exists; choose another folder or pass --force to replace it")
        index, notes = build_index(exports, cards)
        if not index["models"]:
            hint = " (it is one bundle: give the folder that holds it)" if (exports / MANIFEST).exists() else ""
            raise HubError(f"{exports}: no bundle to serve{hint}" + "".join(f"; {note}" for note in notes))
        tmp = staging_dir(dest)
        try:
            with disk_space(f"the hub {typed}"):
                for entry in index["models"]:
                    for name in entry["files"]:
                        target = tmp / entry["bundle"] / name
                        target.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(exports / entry["bundle"] / name, target)
                atomic_write_json(tmp / INDEX, index)
            _check_copy(tmp, index)
            replace_dir(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    except OSError as exc:
        raise HubError(f"{typed}: the hub was not written ({one_line(exc)})") from None
    return index, notes


def _resolved(path: Path) -> Path:
    """``path`` absolute, without symlinks or ``.``/``..``; one that cannot be resolved is one line."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, a current folder that was removed
        raise HubError(f"{path}: cannot be resolved ({one_line(exc)})") from None


def _check_copy(root: Path, index: dict[str, Any]) -> None:
    """The copy holds what the index says (a bundle changed while it was copied is caught here)."""
    from zoo.fsutil import sha256_file

    for entry in index["models"]:
        for name, facts in entry["files"].items():
            if sha256_file(root / entry["bundle"] / name) != facts["sha256"]:
                raise HubError(f"{entry['bundle']}/{name} changed while the hub was written; run zoo hub again")
