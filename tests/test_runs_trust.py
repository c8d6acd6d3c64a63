"""Verdicts about runs that hold under concurrent jobs, full disks and odd labels: real processes,
a real (tiny, mounted) full filesystem, real files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import zoo.plugins
from conftest import ROOT, run_zoo, small_tmpfs

TINY_CNN = ("--set", "channels=8,16", "--set", "hidden=16")


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


def invoke(*args: str):
    from zoo.cli import cli

    zoo.plugins.reset()
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _zoo(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "zoo", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})


HOLD = """
import os, time
from zoo import hookimpl

@hookimpl(wrapper=True)
def zoo_train(spec, model, data, config, context):
    # training waits for the test's go-ahead: the run is claimed, written, and still going
    while not os.path.exists({go!r}):
        time.sleep(0.05)
    return (yield)
"""


def test_a_run_directory_is_claimed_by_exactly_one_process(tmp_path, plugin_site):
    out, go = tmp_path / "run", tmp_path / "go"
    plugin_site.add("zoo-hold", "zoo_hold", HOLD.format(go=str(go)))
    first = _zoo("train", "cnn-digits", "--epochs", "1", *TINY_CNN, "--out", str(out), env=plugin_site.env)
    deadline = time.monotonic() + 120
    while not (out / "state.json").exists():  # the first process holds the directory now
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.05)
    second = invoke("train", "cnn-digits", "--epochs", "1", *TINY_CNN, "--seed", "1", "--out", str(out))
    resume = invoke("train", "--resume", str(out))
    go.touch()
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    for loser in (second, resume):
        assert loser.exit_code == 2 and error_lines(loser.output) == [
            f"error: {out} is being written by another zoo process; wait for it, or choose another --out"]
    record, metrics = (json.loads((out / name).read_text()) for name in ("config.json", "metrics.json"))
    assert record["config"]["seed"] == metrics["seed"] == 0


def test_two_trainings_started_together_on_one_out_leave_one_run(tmp_path):
    out = tmp_path / "run"
    jobs = [_zoo("train", "cnn-digits", "--epochs", "1", *TINY_CNN, "--seed", str(seed), "--out", str(out))
            for seed in (0, 1)]
    results = [(job.wait(timeout=300), job.stderr.read()) for job in jobs]
    assert sorted(code for code, _ in results) == [0, 2], results
    winner = [seed for seed, (code, _) in enumerate(results) if code == 0][0]
    loser_err = next(err for code, err in results if code == 2)
    assert len(error_lines(loser_err)) == 1
    record, metrics = (json.loads((out / name).read_text()) for name in ("config.json", "metrics.json"))
    assert record["config"]["seed"] == metrics["seed"] == winner


def test_default_run_names_taken_in_the_same_second_do_not_collide(tmp_path):
    """Four processes ask for a default run directory at one frozen time: four directories."""
    code = ("import time, zoo.runs as r; time.strftime = lambda *a: '20260101-000000'; "
            "print(r.new_run_dir('cnn-digits', None, False))")
    jobs = [subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
            for _ in range(4)]
    made = sorted(job.communicate(timeout=60)[0].strip() for job in jobs)
    assert made == ["runs/cnn-digits-20260101-000000", "runs/cnn-digits-20260101-000000-2",
                    "runs/cnn-digits-20260101-000000-3", "runs/cnn-digits-20260101-000000-4"]


@pytest.mark.parametrize("labels, message", [
    (np.full(200, 99), "every label is 99; a model that needs labels needs at least two distinct classes"),
    (np.arange(200) % 10 + 1, "labels run from 0 to 10 but class 0 has no sample; number the classes 0 to 9"),
    (np.array([0, 1, 5, 6, 7, 20] * 33 + [0, 1]),
     "labels run from 0 to 20 but classes 2-4, 8-19 have no sample; number the classes 0 to 5"),
])
def test_labels_that_leave_classes_empty_are_one_line(tmp_path, labels, message):
    data = tmp_path / "data.npz"
    np.savez(data, x=np.random.default_rng(0).random((len(labels), 8, 8), dtype=np.float32), y=labels)
    result = invoke("train", "cnn-digits", "--data", str(data), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert error_lines(result.output) == [f"error: {data}: {message}"]
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------ a full disk

@pytest.fixture
def full_disk(tmp_path):
    """A 16 KiB tmpfs: too small for a bundle or a checkpoint. Needs root (CI and this machine have it)."""
    with small_tmpfs(tmp_path / "small", "16k") as mount:
        yield mount


def test_export_to_a_full_disk_says_so_in_one_line_and_leaves_nothing(full_disk):
    from onnx_support import trained

    result = run_zoo("export", str(trained("cnn-digits")), "--out", str(full_disk / "bundle"))
    assert result.code == 2
    assert error_lines(result.err) == [
        f"error: the bundle {full_disk / 'bundle'} was not written: no space left on device (a file being "
        f"replaced keeps its old contents); free space and run the command again"]
    assert list(full_disk.iterdir()) == []


def test_training_on_a_full_disk_blames_the_disk_not_the_plugin(full_disk):
    out = full_disk / "run"
    result = invoke("train", "cnn-digits", "--epochs", "1", *TINY_CNN, "--out", str(out))
    assert result.exit_code == 2
    (line,) = error_lines(result.output)
    assert "was not written: no space left on device" in line and "plugin" not in line
    state = json.loads((out / "state.json").read_text())
    assert state["status"] == "failed" and "no space left on device" in state["error"]
