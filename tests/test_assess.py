"""The assessment contract: any plugin adds a measurement to any model; results are kept, reused, carded.

The core's own assessments are tested in test_assess_explain.py and test_assess_safety.py.
"""
from __future__ import annotations

import json

import pytest

from conftest import TINY_RUNS, invoke_zoo, one_error_line

# A third-party plugin that owns no model and measures every classifier: the share of test samples
# whose largest logit exceeds a margin, with a figure. It counts its calls in a file beside itself.
MARGIN_PLUGIN = """
from pathlib import Path

from zoo import hookimpl
from zoo.assess import Assessment, Figure, Result, Table

CALLS = Path(__file__).with_name("margin-calls.txt")


def measure(ctx):
    import numpy as np
    import torch

    with CALLS.open("a") as f:
        f.write("call\\n")
    with torch.no_grad():
        logits = ctx.model(torch.from_numpy(ctx.data.test.x)).numpy()
    top2 = np.sort(logits, axis=1)[:, -2:]
    share = float(np.mean(top2[:, 1] - top2[:, 0] > 1.0))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.hist(top2[:, 1] - top2[:, 0])
    path = ctx.figure("hist")
    fig.savefig(path, format="png")
    plt.close(fig)
    return Result(summary=f"{share:.0%} of test samples have a logit margin above 1.",
                  values={"share_above_1": share, "threads": torch.get_num_threads()},
                  tables=[Table(["margin", "share"], [[1.0, share]], "Share of test samples above the margin.")],
                  figures=[Figure(path.name, "Histogram of logit margins.")],
                  method="top-1 minus top-2 logit, numpy")


@hookimpl
def zoo_assessments(spec):
    if spec.task != "classification":
        return None
    return [Assessment("logit-margin", "safety", "Logit margin", measure)]
"""

BROKEN_PLUGINS = """
from zoo import hookimpl
from zoo.assess import Assessment, Result


def boom(ctx):
    raise RuntimeError("the measurement blew up")


def leave(ctx):
    import sys

    sys.exit(3)


@hookimpl
def zoo_assessments(spec):
    return [Assessment("exploding", "safety", "Exploding", boom), Assessment("exiting", "safety", "Exiting", leave),
            Assessment("calibration", "safety", "A second calibration", boom),
            Assessment("misfiled", "nonsense", "Wrong section", boom)]
"""

RAISING_HOOK = """
from zoo import hookimpl


@hookimpl
def zoo_assessments(spec):
    raise ValueError("cannot even say what I measure")
"""


def test_a_third_party_assessment_reaches_the_run_and_the_card(plugin_path, tiny_run, tmp_path):
    plugin_path.add("zoo-margin", "zoo_margin", MARGIN_PLUGIN)
    import torch

    run = TINY_RUNS.copy_run("cnn-digits", tmp_path / "run")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        result = invoke_zoo("assess", str(run), "--budget", "0.05", "--json")
        assert torch.get_num_threads() == 2, "the caller's thread count comes back"
    finally:
        torch.set_num_threads(before)
    assert result.code == 0, result.err
    found = {e["name"]: e for e in json.loads(result.out)["assessments"]}
    margin = found["logit-margin"]
    assert margin["status"] == "ok" and margin["plugin"] == "zoo_margin" and margin["section"] == "safety"
    assert 0.0 <= margin["values"]["share_above_1"] <= 1.0
    assert margin["values"]["threads"] == 1, "every measurement runs on one thread, whatever the caller's"
    assert (run / "assessments" / "logit-margin-hist.png").is_file()
    assert {"calibration", "membership-inference"} <= set(found), "the core's own assessments run beside it"
    calls = (plugin_path.root / "margin-calls.txt").read_text().count("call")

    again = invoke_zoo("assess", str(run), "--budget", "0.05", "--json")  # unchanged: reused, not measured
    assert json.loads(again.out) == json.loads(result.out)
    assert (plugin_path.root / "margin-calls.txt").read_text().count("call") == calls

    card = tmp_path / "card.md"
    made = invoke_zoo("card", str(run), "--out", str(card), env={"ZOO_ASSESS_BUDGET": "0.05"})
    assert made.code == 0, made.err
    text = card.read_text()
    safety = text[text.index("## Safety and ethical considerations"):]
    assert "**Logit margin** (added by plugin `zoo_margin`)" in safety
    assert "![assess-logit-margin-hist](figures/cnn-digits/assess-logit-margin-hist.png)" in safety
    assert (tmp_path / "figures" / "cnn-digits" / "assess-logit-margin-hist.png").is_file()
    assert "sample budget 0.05" in safety


WRAPPING_HOOK = """
from zoo import hookimpl


@hookimpl(wrapper=True)
def zoo_assessments(spec):
    return (yield)  # wraps the others' answers and offers none of its own
"""


def test_broken_assessments_are_reported_and_the_rest_still_run(plugin_path, tmp_path):
    plugin_path.add("zoo-broken", "zoo_broken", BROKEN_PLUGINS)
    plugin_path.add("zoo-raising", "zoo_raising", RAISING_HOOK)
    plugin_path.add("zoo-wrapping", "zoo_wrapping", WRAPPING_HOOK)
    run = TINY_RUNS.copy_run("cnn-digits", tmp_path / "run")
    result = invoke_zoo("assess", str(run), "--budget", "0.05", "--json")
    assert result.code == 1
    assert one_error_line(result.err).startswith("error: 5 of ")
    entries = json.loads(result.out)["assessments"]
    failed = {(e["plugin"], e["name"]): e["error"] for e in entries if e["status"] != "ok"}
    assert failed[("zoo_broken", "exploding")] == "RuntimeError: the measurement blew up"
    assert failed[("zoo_broken", "exiting")] == "SystemExit: 3", "a plugin calling sys.exit ends only its entry"
    assert "already offered by plugin 'core'" in failed[("zoo_broken", "calibration")]
    assert "section must be one of explainability, safety" in failed[("zoo_broken", "misfiled")]
    assert "zoo_assessments failed: ValueError: cannot even say what I measure" in failed[("zoo_raising", "?")]
    assert not [key for key in failed if key[0] == "zoo_wrapping"], "a wrapper offers nothing and fails nothing"
    core = [e for e in entries if e["plugin"] == "core"]
    assert core and all(e["status"] == "ok" for e in core)


def test_a_changed_run_is_measured_again(tiny_run, tmp_path):
    from zoo.assess.runner import assess_run
    from zoo.runs import WEIGHTS

    import shutil

    run = shutil.copytree(tiny_run("rnn-digits").path, tmp_path / "run")
    first = assess_run(run, budget=0.05)
    stored = (run / "assessments" / "assessments.json").stat().st_mtime_ns
    assert assess_run(run, budget=0.05) == first
    assert (run / "assessments" / "assessments.json").stat().st_mtime_ns == stored, "reused, not measured again"
    weights = run / WEIGHTS
    from safetensors.torch import load_file, save_file

    tensors = load_file(weights)
    name = next(iter(tensors))
    tensors[name] = tensors[name] * 1.5
    save_file(tensors, weights)
    changed = assess_run(run, budget=0.05)
    assert changed["provenance"]["weights_sha256"] != first["provenance"]["weights_sha256"]
    assert not list(run.glob(".assessments*")), "no scratch folder is left behind"

    # Stored results that are damaged or miss a figure are measured again, not trusted (or a traceback).
    def measured(results):  # what was found, without the seconds each took
        return [{k: v for k, v in e.items() if k != "seconds"} for e in results["assessments"]]

    folder = run / "assessments"
    next(folder.glob("*.png")).unlink()
    again = assess_run(run, budget=0.05)
    assert measured(again) == measured(changed), "measured again, to the same numbers"
    assert all((folder / f["file"]).is_file() for e in again["assessments"] for f in e["figures"])
    (folder / "assessments.json").write_text("{")
    assert measured(assess_run(run, budget=0.05)) == measured(changed)


def test_a_bad_budget_is_one_error_line(tiny_run):
    result = invoke_zoo("card", str(tiny_run("cnn-digits").path), env={"ZOO_ASSESS_BUDGET": "lots"})
    assert result.code == 2
    assert one_error_line(result.err) == "error: ZOO_ASSESS_BUDGET must be a number from 0.01 to 10, got 'lots'"


def test_training_a_run_again_drops_its_old_assessments_and_card(tmp_path):
    from zoo import runs

    run = tmp_path / "run"
    (run / "assessments").mkdir(parents=True)
    (run / "assessments" / "assessments.json").write_text("{}")
    (run / "card").mkdir()
    (run / runs.WEIGHTS).write_bytes(b"old")
    try:
        assert runs.new_run_dir("cnn-digits", run, force=True) == run
        assert sorted(p.name for p in run.iterdir()) == [runs.LOCK], "made from the old weights: gone with them"
    finally:
        runs.release(run)


def test_assessing_on_a_full_disk_is_one_line_and_keeps_the_old_results(tiny_run, tmp_path):
    import shutil
    import subprocess

    source = tiny_run("cnn-tiny-digits").path
    used = sum(f.stat().st_size for f in source.rglob("*") if f.is_file() and "assessments" not in f.parts)
    disk = tmp_path / "small"
    disk.mkdir()
    size = (used // 4096 + 16) * 4096  # the run and its old results fit; a new set of figures does not
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.decode().strip()}")
    try:
        run = disk / "run"
        shutil.copytree(source, run, ignore=shutil.ignore_patterns("assessments", "card"))
        (run / "assessments").mkdir()
        (run / "assessments" / "assessments.json").write_text('{"old": true}')
        result = invoke_zoo("assess", str(run), "--budget", "0.05")
        assert result.code == 2
        line = one_error_line(result.err)
        assert str(run) in line and "was not written: no space left on device" in line
        assert json.loads((run / "assessments" / "assessments.json").read_text()) == {"old": True}
        assert sorted(p.name for p in run.iterdir() if p.name.startswith(".assessments")) == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)
