"""Shared fixtures: run the real CLI in a subprocess, and install throwaway plugin distributions."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_zoo(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 600) -> Result:
    """Run `python -m zoo ARGS` as a user would; returns exit code, stdout and stderr."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def zoo_cli():
    return run_zoo


class PluginSite:
    """A folder on PYTHONPATH holding fake distributions whose entry points zoo discovers for real."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def add(self, dist: str, module: str, source: str, entry_name: str | None = None) -> None:
        (self.root / f"{module}.py").write_text(textwrap.dedent(source))
        info = self.root / f"{dist.replace('-', '_')}-0.1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
        (info / "entry_points.txt").write_text(f"[zoo.plugins]\n{entry_name or module} = {module}\n")

    @property
    def env(self) -> dict[str, str]:
        existing = os.environ.get("PYTHONPATH")
        return {"PYTHONPATH": str(self.root) + (os.pathsep + existing if existing else "")}


@pytest.fixture
def plugin_site(tmp_path: Path) -> PluginSite:
    site = tmp_path / "site"
    site.mkdir()
    return PluginSite(site)


GOOD_PLUGIN = """
from zoo import ModelSpec, hookimpl

@hookimpl
def zoo_models():
    return [ModelSpec(name="{name}", family="toy", task="classification", dataset="digits",
                      summary="a toy model", default_config={{"epochs": 1, "batch_size": 8, "lr": 0.1, "seed": 0}})]
"""


def good_plugin(name: str) -> str:
    return GOOD_PLUGIN.format(name=name)
