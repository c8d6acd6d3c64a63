"""The session's tiny runs and ONNX bundles as plain functions (conftest's ``TINY_RUNS``; the fixtures
``tiny_run`` and ``tiny_bundle`` give the same). Call them from tests, not at import time."""
from __future__ import annotations

from pathlib import Path

from conftest import TINY, TINY_RUNS

__all__ = ["TINY", "copy_bundle", "exported", "trained"]


def trained(name: str) -> Path:
    """The folder of the tiny run of ``name`` (``TINY[name]``), trained once per session."""
    return TINY_RUNS.run(name).path


def exported(name: str) -> Path:
    """Its ONNX bundle, exported once per session."""
    return TINY_RUNS.bundle(name)


def copy_bundle(name: str, dest: Path) -> Path:
    """A private copy of a shared bundle, for tests that damage it."""
    return TINY_RUNS.copy_bundle(name, dest)


def resign(path: Path) -> None:
    """Make the manifest's checksums match the files again (every file under the bundle), as a careless or
    hostile tool would: what the checksums alone cannot catch."""
    import json

    from zoo import bundle

    manifest = json.loads((path / bundle.MANIFEST).read_text())
    manifest["files"] = bundle.checksums(path)
    (path / bundle.MANIFEST).write_text(json.dumps(manifest))
