"""Training for real: run directories, determinism, Ctrl-C and resume, and refusing bad files."""
from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import zoo
from conftest import (TINY, TINY_RUNS, invoke_zoo, one_error_line, pausing_plugin, run_zoo,
                      sigint_as_at_a_terminal, tiny_args, wait_for)
from zoo.runs import RunError, load_checkpoint

CNN = TINY["cnn-digits"]


def _scalars(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, float)}


@pytest.mark.slow
def test_train_writes_a_complete_run_and_is_deterministic(tmp_path, tiny_run):
    """`zoo train` in its own process gives exactly the metrics of the same config trained here."""
    first = run_zoo("train", "cnn-digits", *tiny_args("cnn-digits"), "--out", str(tmp_path / "a"), "--json")
    assert first.code == 0, first.err
    run = tmp_path / "a"
    assert {"config.json", "checkpoint.pt", "weights.safetensors", "history.jsonl", "metrics.json",
            "state.json"} <= {p.name for p in run.iterdir()}
    record = json.loads((run / "config.json").read_text())
    assert record["config"]["epochs"] == CNN["epochs"] == 3 and record["config"]["channels"] == [8, 16]
    assert record["world_size"] == 1 and record["data"]["splits"]["test"] == 360
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2, 3] and {"loss", "val_accuracy"} <= set(history[0])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["split"] == "test" and 0.3 < metrics["metrics"]["accuracy"] <= 1.0
    assert len(metrics["metrics"]["confusion_matrix"]) == 10
    assert json.loads(first.out)["metrics"] == metrics["metrics"]
    second = tiny_run("cnn-digits")
    assert _scalars(second.metrics()["metrics"]) == _scalars(metrics["metrics"])
    evaluated = invoke_zoo("evaluate", str(run), "--json")
    assert evaluated.code == 0 and json.loads(evaluated.out)["matches_recorded"] is True


def test_existing_run_is_not_overwritten_without_force(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = invoke_zoo("train", "cnn-digits", *tiny_args("cnn-digits"), "--out", str(out))
    assert result.code == 2 and "--force" in one_error_line(result.err)
    assert (out / "notes.txt").read_text() == "mine" and not (out / "config.json").exists()


@pytest.mark.parametrize("args, message", [
    (["--set", "hiden=3"], "unknown config key 'hiden' (did you mean 'hidden'?)"),
    (["--set", "hidden=lots"], "config 'hidden': 'lots' is not a valid int"),
    (["--set", "hidden"], "expected KEY=VALUE"),
    (["--epochs", "0"], "config 'epochs' must be 1 or more"),
    (["--data", "/no/such/file.npz"], "no such file or folder"),
])
def test_bad_training_input_is_one_line_exit_2(tmp_path, args, message):
    result = invoke_zoo("train", "cnn-digits", *args, "--out", str(tmp_path / "r"))
    assert result.code == 2, result.err
    assert message in one_error_line(result.err)
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_ctrl_c_leaves_a_resumable_run_that_matches_an_uninterrupted_one(tmp_path, plugin_site, tiny_run):
    """SIGINT lands mid-epoch 2 (a plugin holds the run there); the resumed run equals the straight one."""
    ready = tmp_path / "paused"
    plugin_site.add("zoo-pause", "zoo_pause", pausing_plugin(ready, epoch=1, step=3))
    out = tmp_path / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "zoo", "train", "cnn-digits", *tiny_args("cnn-digits"),
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **plugin_site.env}, preexec_fn=sigint_as_at_a_terminal)
    try:
        wait_for(ready, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert one_error_line(err) == f"error: interrupted; resume with: zoo train --resume {out}" and "Traceback" not in err
    state = json.loads((out / "state.json").read_text())
    assert state["status"] == "interrupted" and state["epochs_done"] == 1
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1
    history = out / "history.jsonl"
    assert [h["epoch"] for h in map(json.loads, history.read_text().splitlines())] == [1]
    resumed = invoke_zoo("train", "--resume", str(out), "--json")
    assert resumed.code == 0, resumed.err
    straight = tiny_run("cnn-digits")
    assert _scalars(json.loads(resumed.out)["metrics"]) == _scalars(straight.metrics()["metrics"])
    assert [h["epoch"] for h in map(json.loads, history.read_text().splitlines())] == [1, 2, 3]
    assert json.loads((out / "state.json").read_text())["status"] == "complete"


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_that_would_run_code_is_refused(tmp_path):
    run = TINY_RUNS.copy_run("cnn-digits", tmp_path / "run")
    marker = tmp_path / "pwned"
    with open(run / "checkpoint.pt", "wb") as handle:
        pickle.dump({"epoch": 1, "model": _Exploit(marker)}, handle)
    (run / "state.json").write_text(json.dumps({"status": "interrupted", "epochs_done": 1}))
    result = invoke_zoo("train", "--resume", str(run))
    assert result.code == 2 and "refused" in one_error_line(result.err)
    assert not marker.exists(), "the pickle's code must never run"
    with pytest.raises(RunError, match="refused"):
        load_checkpoint(run / "checkpoint.pt")
    assert not marker.exists()


def test_truncated_or_missing_files_are_clear_errors(tmp_path):
    run = TINY_RUNS.copy_run("cnn-digits", tmp_path / "run")
    weights = run / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    result = invoke_zoo("evaluate", str(run))
    assert result.code == 2 and "truncated" in one_error_line(result.err)
    checkpoint = run / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:200])
    resumed = invoke_zoo("train", "--resume", str(run))
    assert resumed.code == 2 and "truncated or not a zoo checkpoint" in one_error_line(resumed.err)
    weights.unlink()
    missing = invoke_zoo("evaluate", str(run))
    assert missing.code == 2 and "no weights" in one_error_line(missing.err)
    nothing = invoke_zoo("evaluate", str(tmp_path / "nothing"))
    assert nothing.code == 2 and one_error_line(nothing.err)


def test_python_api_create_model():
    model = zoo.create_model("cnn-digits", hidden=16)
    assert isinstance(model, torch.nn.Module)
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    with pytest.raises(zoo.ZooError, match="unknown config key"):
        zoo.create_model("cnn-digits", hiddn=16)


def test_atomic_writes_keep_the_usual_permissions(tmp_path):
    """Temporary files are owner-only; what lands in place must not be (bundles are shared)."""
    from zoo.fsutil import atomic_write_json

    mask = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "x.json", {"a": 1})
    finally:
        os.umask(mask)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o644


def test_shift_moves_sequences_along_time_only_and_images_in_both_axes():
    from zoo.recipes import random_shift

    torch.manual_seed(0)
    series = torch.arange(1, 201, dtype=torch.float32).reshape(1, 200, 1).repeat(64, 1, 1)  # one feature
    moved = random_shift(series, 2)
    assert moved.shape == series.shape
    assert (moved[:, 2:-2] != 0).all()  # a one-feature series is never blanked, only its ends zero-filled
    assert {int(row[5, 0] - series[0, 5, 0]) for row in moved} == {-2, -1, 0, 1, 2}  # whole steps, both ways
    rows = torch.rand(32, 8, 8)
    shifted = random_shift(rows, 1)
    for i in range(32):  # each step keeps its features together: a step of the original, or zero-filled
        for step in shifted[i]:
            assert step.abs().sum() == 0 or any(torch.equal(step, original) for original in rows[i])
    images = torch.rand(32, 1, 8, 8)
    columns_blanked = (random_shift(images, 1) == 0).all(dim=2).any(dim=-1)
    assert columns_blanked.any()  # images still move sideways
    torch.manual_seed(1)
    as_image = random_shift(rows, 1, features=True)  # shift_features: the rows' pixels move sideways too
    torch.manual_seed(1)
    assert torch.equal(as_image, random_shift(rows.unsqueeze(1), 1).squeeze(1))  # exactly an image's shift
    assert (as_image == 0).all(dim=1).any()  # some sequence had a feature column blanked


def test_an_older_run_gets_the_defaults_of_config_keys_added_since(tiny_run, tmp_path):
    """A plugin that adds a config key keeps its older runs working: their stored config is completed from
    the current defaults, and a warning line says which keys were filled."""
    import json
    import shutil
    import warnings

    from zoo.errors import ZooWarning
    from zoo.models import load_trained
    from zoo.runs import CONFIG

    run = shutil.copytree(tiny_run("cnn-digits").path, tmp_path / "older")
    record = json.loads((run / CONFIG).read_text())
    del record["config"]["dropout"]  # as if the plugin had added `dropout` after this run was trained
    (run / CONFIG).write_text(json.dumps(record))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, model, _, config, _ = load_trained(run)
    assert config["dropout"] == zoo.get_model("cnn-digits").default_config["dropout"]
    said = [str(w.message) for w in caught if issubclass(w.category, ZooWarning)]
    assert said == ["run older was trained before model 'cnn-digits' had config key 'dropout'; using its current "
                    f"default (dropout={config['dropout']!r})"]
