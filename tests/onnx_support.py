"""Tiny trained runs and their ONNX bundles, made once per test session and shared by the ONNX tests."""
from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(tempfile.mkdtemp(prefix="zoo-onnx-tests-"))
atexit.register(shutil.rmtree, ROOT, ignore_errors=True)

TINY = {
    "cnn-digits": {"channels": "8,16", "hidden": 32},
    "rnn-digits": {"hidden_size": 8},
    "ae-digits": {"hidden": "32", "code_size": 4},
    "cgan-digits": {"generator_hidden": "32", "discriminator_hidden": "32"},
}


@functools.cache
def trained(name: str) -> Path:
    """One epoch of ``name`` at a tiny size; the GAN skips its slow sample-quality evaluation."""
    import zoo.api
    from zoo.api import train

    with pytest.MonkeyPatch.context() as patch:
        if name == "cgan-digits":
            patch.setattr(zoo.api, "evaluate_model", lambda *args: {})
        return train(name, epochs=1, overrides=TINY[name], out=ROOT / "runs" / name).path


@functools.cache
def exported(name: str) -> Path:
    from zoo.bundle.export import export_run

    return export_run(trained(name), ROOT / "exports" / name)


def copy_bundle(name: str, dest: Path) -> Path:
    """A private copy of a shared bundle, for tests that damage it."""
    return Path(shutil.copytree(exported(name), dest))
