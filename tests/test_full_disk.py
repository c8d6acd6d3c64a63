"""A training stopped by a full disk says the way out, and the way out works: free space, then --resume."""
from __future__ import annotations

import json
import subprocess

import pytest

from conftest import invoke_zoo, one_error_line, small_tmpfs, tiny_args


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 96 KiB, grown later by remounting it (freeing space without touching the run). Needs root."""
    with small_tmpfs(tmp_path / "small", "96k") as mount:
        yield mount


def test_a_full_disk_during_training_names_the_resume_command_which_then_finishes_the_run(small_disk):
    # the epoch-0 checkpoint (weights, no optimizer moments yet) fits; the first epoch's (with AdamW's
    # moments, about 108 kB, written beside the old one) does not
    run = small_disk / "run"
    stopped = invoke_zoo("train", "cnn-digits", *tiny_args("cnn-digits", epochs=2), "--out", str(run))
    line = one_error_line(stopped.err)
    assert stopped.code == 2 and "was not written: no space left on device" in line
    assert line.endswith(f"free space, then continue the run from its last checkpoint: zoo train --resume {run}")
    assert json.loads((run / "state.json").read_text())["status"] == "failed"
    again = invoke_zoo("train", "cnn-digits", *tiny_args("cnn-digits", epochs=2), "--out", str(run))
    assert again.code == 2 and "--force" in one_error_line(again.err)  # why "run the command again" misled

    subprocess.run(["mount", "-o", "remount,size=1m", str(small_disk)], check=True)  # space freed
    resumed = invoke_zoo("train", "--resume", str(run))
    assert resumed.code == 0, resumed.err
    assert json.loads((run / "state.json").read_text())["status"] == "complete"
    assert len((run / "history.jsonl").read_text().splitlines()) == 2


def test_a_full_disk_before_any_checkpoint_says_to_start_again_with_force(tmp_path):
    with small_tmpfs(tmp_path / "tiny", "16k") as mount:
        run = mount / "run"
        stopped = invoke_zoo("train", "cnn-digits", *tiny_args("cnn-digits", epochs=1), "--out", str(run))
        line = one_error_line(stopped.err)
        assert stopped.code == 2 and line.endswith(
            f"free space, then start it again with the options you gave (no epoch was saved to resume from): "
            f"zoo train cnn-digits --out {run} --force ...")
