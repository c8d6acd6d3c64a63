"""Shared test machinery.

* The command line two ways: ``run_zoo`` runs ``python -m zoo`` in a subprocess, as a user would, for
  tests where the process boundary is the point (training for real, Ctrl-C, entry-point discovery of a
  fake distribution on PYTHONPATH, the torch-free predict path); ``invoke_zoo`` runs ``zoo.cli.cli``
  in this process with click's CliRunner, for error paths and registry queries.
* ``one_error_line``: how every failing command must end, asserted one way.
* ``TINY``: the one table of tiny configs of the built-in models, and ``TINY_RUNS``: one session-wide
  cache of their trained runs and ONNX bundles (fixtures ``tiny_run`` and ``tiny_bundle``; the module
  ``onnx_support`` offers the same as plain functions).
* ``PluginSite``: throwaway plugin distributions whose entry points zoo discovers for real.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

# One compute thread per process, here and in every subprocess the tests start (they inherit it; the
# distributed launcher keeps it for its workers). The models are tiny, and on a 2-core machine shared with
# other work two OpenMP threads per process spin against each other: the tiny GAN trained in 31 s with
# two threads and 2.5 s with one, to the same numbers. It also makes every comparison between a run
# trained in this process and one trained in a subprocess a comparison at the same thread count.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Cards and `zoo assess` measure their assessments at a twentieth of the sample counts (each assessment keeps
# its own minimum; the card records the budget): the same code on fewer samples, so that a card costs a
# second or two, not ten.
os.environ.setdefault("ZOO_ASSESS_BUDGET", "0.05")

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


def invoke_zoo(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run the command line in this process (click's CliRunner): no interpreter start, no torch import.

    With ``env`` (``ZOO_DISABLE_PLUGINS`` ...) the plugin set is loaded afresh for the call and
    forgotten after it, so that neither the call nor later tests see a stale set. An exception the CLI
    does not turn into an ``error:`` line propagates and fails the test (a user would see a traceback).
    """
    from click.testing import CliRunner

    import zoo.plugins
    from zoo.cli import cli

    if env:
        zoo.plugins.reset()
    try:
        result = CliRunner().invoke(cli, list(args), env=env, prog_name="zoo", catch_exceptions=False)
    finally:
        if env:
            zoo.plugins.reset()
    return Result(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def zoo_cli():
    """The subprocess runner, for tests that take it as a fixture."""
    return run_zoo


@contextmanager
def small_tmpfs(mount: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``"16k"``) mounted at ``mount`` for the block, to fill a disk for real; the test is
    skipped where mounting is not allowed (it needs root: CI and this machine have it)."""
    mount.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def one_error_line(err: str) -> str:
    """A failing command's stderr: exactly one line, starting with `error: `, and no traceback. Returns it."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


# The tiny configs every test trains from: small enough for seconds of CPU, big enough to learn
# (classifiers beat chance by far in 3 epochs). The GANs' settings were measured on seeds 0-2, with one
# thread and with two: after 16 epochs their Frechet distance is 0.42-0.53 of the naive baseline's, and
# the conditional one's label accuracy 0.91-0.96 (tests/test_families.py asserts < 0.75 and > 0.75).
_GAN = {"epochs": 16, "batch_size": 16, "lr": 0.002, "lr_discriminator": 0.002, "generator_hidden": "128",
        "discriminator_hidden": "128", "ema_decay": 0.9}
_GATED_RNN = {"epochs": 3, "hidden_size": 32, "batch_size": 32, "num_layers": 1, "dropout": 0.0, "shift": 0, "lr": 0.01}
_UCR_RNN = {"epochs": 2, "hidden_size": 8}  # the UCR/UEA archive's recurrent models: for shapes and cards, not skill
_UCR_FCN = {"epochs": 2, "channels": "8,16,8"}  # and its FCN models
TINY: dict[str, dict[str, Any]] = {
    "cnn-digits": {"epochs": 3, "channels": "8,16", "hidden": 32},
    "cnn-tiny-digits": {"epochs": 3},
    "rnn-digits": {"epochs": 3, "hidden_size": 32},
    "lstm-digits": _GATED_RNN,
    "gru-digits": _GATED_RNN,
    "fcn-digits-rows": {"epochs": 3, "channels": "8,16,8"},
    "ae-digits": {"epochs": 3, "hidden": "64", "code_size": 8},
    "sparse-ae-digits": {"epochs": 3, "hidden": "64", "code_size": 8},
    "gan-digits": _GAN,
    "cgan-digits": _GAN,
    "gru-ucr-gunpoint": _UCR_RNN,
    "gru-ucr-italypowerdemand": _UCR_RNN,
    "gru-ucr-arrowhead": _UCR_RNN,
    "lstm-uea-basicmotions": _UCR_RNN,
    "fcn-ucr-arrowhead": _UCR_FCN,
    "fcn-uea-japanesevowels": _UCR_FCN,
}


def tiny_args(name: str, **changes: Any) -> list[str]:
    """``TINY[name]`` (with ``changes``) as `zoo train` options: the same run the cache trains."""
    return [arg for key, value in {**TINY[name], **changes}.items() for arg in ("--set", f"{key}={value}")]


class TinyRuns:
    """The session's tiny runs and bundles: each model of ``TINY`` trained (in this process) and
    exported at most once, on first use, under pytest's temporary directory. Never modify what it
    returns; ``copy_run`` and ``copy_bundle`` give private copies to damage."""

    def __init__(self) -> None:
        self._factory: pytest.TempPathFactory | None = None
        self._roots: dict[str, Path] = {}
        self._runs: dict[str, Any] = {}
        self._bundles: dict[str, Path] = {}

    def bind(self, factory: pytest.TempPathFactory) -> None:
        self._factory = factory

    def _root(self, kind: str) -> Path:
        if self._factory is None:
            raise RuntimeError("TINY_RUNS is bound by conftest's session fixture; use it from a test")
        if kind not in self._roots:
            self._roots[kind] = self._factory.mktemp(f"tiny-{kind}", numbered=False)
        return self._roots[kind]

    def run(self, name: str):
        """The tiny run of ``name`` (a zoo.runs.Run)."""
        if name not in self._runs:
            import zoo

            self._runs[name] = zoo.train(name, overrides=TINY[name], out=self._root("runs") / name)
        return self._runs[name]

    def bundle(self, name: str) -> Path:
        """The ONNX bundle of the tiny run of ``name``."""
        if name not in self._bundles:
            from zoo.bundle.export import export_run

            self._bundles[name] = export_run(self.run(name).path, self._root("exports") / name)
        return self._bundles[name]

    def copy_run(self, name: str, dest: Path) -> Path:
        return Path(shutil.copytree(self.run(name).path, dest))

    def copy_bundle(self, name: str, dest: Path) -> Path:
        return Path(shutil.copytree(self.bundle(name), dest))


TINY_RUNS = TinyRuns()


@pytest.fixture(scope="session", autouse=True)
def _bind_tiny_runs(tmp_path_factory: pytest.TempPathFactory) -> None:
    TINY_RUNS.bind(tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_run() -> Callable[[str], Any]:
    """``tiny_run(name)``: the session's tiny trained run of a built-in model (trained on first use)."""
    return TINY_RUNS.run


@pytest.fixture(scope="session")
def tiny_bundle() -> Callable[[str], Path]:
    """``tiny_bundle(name)``: the ONNX bundle of that run (exported on first use)."""
    return TINY_RUNS.bundle


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


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    """A plugin site on this process's own sys.path, for in-process CLI calls (invoke_zoo) and API
    calls; the plugin set is reloaded around the test and the site's modules are forgotten after it."""
    import zoo.plugins

    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    before = set(sys.modules)
    zoo.plugins.reset()
    yield PluginSite(root)
    for name in set(sys.modules) - before:  # the next test's plugin of the same name is a new module
        if getattr(sys.modules[name], "__file__", "") and str(root) in sys.modules[name].__file__:
            del sys.modules[name]
    zoo.plugins.reset()


@pytest.fixture
def without_torch(tmp_path):
    """An environment where `import torch` fails: the deployer's machine, proof that a path never imports it."""
    fake = tmp_path / "fake" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('torch must not be imported on this path')\n")
    return {"PYTHONPATH": str(fake.parent)}


GOOD_PLUGIN = """
from zoo import ModelSpec, hookimpl

@hookimpl
def zoo_models():
    return [ModelSpec(name="{name}", family="toy", task="classification", dataset="digits",
                      summary="a toy model", default_config={{"epochs": 1, "batch_size": 8, "lr": 0.1, "seed": 0}})]

@hookimpl
def zoo_build(spec, config, info):
    from math import prod

    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(prod(info.sample_shape), info.num_classes))
"""


def good_plugin(name: str) -> str:
    return GOOD_PLUGIN.format(name=name)


PAUSING_PLUGIN = """
import math
import time
from pathlib import Path

from zoo import hookimpl


@hookimpl(wrapper=True)
def zoo_train(spec, model, data, config, context):
    if context.world.rank == {rank}:
        world = context.world
        steps = math.ceil(math.ceil(len(data.train) / world.world_size) / context.local_batch_size)
        pause_at, seen = steps * {epoch} + {step}, [0]

        def hold(module, args):
            if module.training:
                seen[0] += 1
                if seen[0] == pause_at:
                    Path({ready!r}).touch()
                    time.sleep(600)

        model.register_forward_pre_hook(hold)
    return (yield)
"""


def pausing_plugin(ready: Path, epoch: int = 1, step: int = 3, rank: int = 0) -> str:
    """A plugin that holds training still at a known place: on rank ``rank``, at the forward pass of
    step ``step`` of the epoch after epoch ``epoch`` (so ``epoch`` epochs are checkpointed and the next
    one is under way), it touches ``ready`` and sleeps; other ranks wait at their next collective.
    A signal sent once ``ready`` exists lands mid-epoch, every time."""
    return PAUSING_PLUGIN.format(ready=str(ready), epoch=epoch, step=step, rank=rank)


def sigint_as_at_a_terminal() -> None:
    """Popen's ``preexec_fn`` for a child that a test interrupts: SIGINT back to its default, so Python in
    the child turns it into KeyboardInterrupt as it does at a terminal. A shell starts a background job
    (``pytest ... &`` in a script) with SIGINT ignored, an ignored signal stays ignored across exec, and
    Python then installs no handler for it: the test would wait for an interrupt that never comes."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    """Wait until ``path`` exists; fail with the process's stderr if it ends or the time runs out."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the process ended ({proc.returncode}) before {path.name} appeared:\n{proc.stderr.read()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{path.name} did not appear within {timeout} s")
        time.sleep(0.05)


def published_cards() -> Path:
    """The committed cards/ folder; a test of the published zoo skips when nothing is published."""
    folder = ROOT / "cards"
    if not any(folder.glob("*.json")):
        pytest.skip("cards/ is empty: run `zoo publish` to publish the built-in models' cards")
    return folder


def chromium() -> str:
    """Headless Chromium's path: missing, a test fails in CI (.ci/run installs it) and skips elsewhere."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI (.ci/run installs Debian's chromium package)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return browser


def dump_dom(url: str, profile: Path, budget_ms: int = 3000, flags: tuple[str, ...] = ()) -> str:
    """The page at ``url`` as headless Chromium leaves it after ``budget_ms`` of virtual time (scripts run).
    ``flags``: more of Chromium's switches (``--window-size=1280,800``, ``--allow-file-access-from-files``)."""
    proc = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--hide-scrollbars", *flags, f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _write_key(path: Path, key) -> Path:
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.with_suffix(".pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    """Two P-256 key pairs (``publisher``, ``other``: key.pem and key.pub) and an Ed25519 one model-signing refuses."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    root = tmp_path_factory.mktemp("keys")
    return {"publisher": _write_key(root / "publisher.pem", ec.generate_private_key(ec.SECP256R1())),
            "other": _write_key(root / "other.pem", ec.generate_private_key(ec.SECP256R1())),
            "ed25519": _write_key(root / "ed25519.pem", ed25519.Ed25519PrivateKey.generate())}
