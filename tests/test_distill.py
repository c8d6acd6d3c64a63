"""Distillation: a teacher run on the same data supervises a student small enough for small devices."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import zoo
from conftest import TINY, invoke_zoo, one_error_line
from zoo.fsutil import sha256_file
from zoo.cards.facts import parameter_count
from zoo.runs import WEIGHTS

STUDENT = {"epochs": 2}


@pytest.fixture(scope="module")
def student(tmp_path_factory, tiny_run):
    """cnn-tiny-digits distilled from the session's tiny cnn-digits run, with its own baseline."""
    root = tmp_path_factory.mktemp("distill")
    alone = zoo.train("cnn-tiny-digits", overrides=STUDENT, out=root / "alone")
    return zoo.train("cnn-tiny-digits", overrides={**STUDENT, "kd_temperature": 3.0},
                     teacher=tiny_run("cnn-digits").path, baseline=alone.path, out=root / "student")


def test_the_student_has_at_most_10000_parameters():
    assert parameter_count(zoo.create_model("cnn-tiny-digits")) <= 10_000


def test_the_student_run_records_its_teacher(student, tiny_run):
    teacher = tiny_run("cnn-digits")
    recorded = student.record["teacher"]
    assert recorded["weights_sha256"] == sha256_file(teacher.path / WEIGHTS)
    assert recorded["data_sha256"] == teacher.record["data"]["sha256"] == student.record["data"]["sha256"]
    assert recorded["run"] == teacher.path.name and recorded["model"] == "cnn-digits"
    assert student.config["kd_temperature"] == 3.0 and student.config["kd_alpha"] == 0.5
    distilled = student.metrics()["distillation"]
    assert distilled["teacher"]["weights_sha256"] == recorded["weights_sha256"] and "path" not in distilled["teacher"]
    assert (distilled["temperature"], distilled["alpha"]) == (3.0, 0.5)
    assert student.metrics()["baseline"]["run"] == "alone"


def test_the_distillation_loss_is_hintons():
    """alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * cross-entropy, computed by hand."""
    from zoo.options.distill import Teacher

    torch.manual_seed(0)
    teacher_net = torch.nn.Linear(4, 3)
    x, y, student_logits = torch.randn(5, 4), torch.tensor([0, 1, 2, 1, 0]), torch.randn(5, 3)
    T, alpha = 2.5, 0.3
    p = F.softmax(teacher_net(x) / T, dim=1)
    kl = (p * (p.log() - F.log_softmax(student_logits / T, dim=1))).sum(1).mean()
    expected = alpha * T * T * kl + (1 - alpha) * F.cross_entropy(student_logits, y)
    teacher = Teacher(teacher_net, {}, {"kd_temperature": T, "kd_alpha": alpha})
    assert teacher.loss(student_logits, x, y, F.cross_entropy).item() == pytest.approx(expected.item(), rel=1e-5)


def test_the_card_has_a_distillation_note(tmp_path, student, tiny_run):
    from zoo.cards.make import make_card
    from zoo.cards.render import to_markdown

    card = make_card(student.path, tmp_path)
    text = to_markdown(card)
    note = text.split("## Distillation", 1)[1].split("\n## ", 1)[0]
    teacher = tiny_run("cnn-digits")
    assert f"`{teacher.path.name}`" in note and student.record["teacher"]["weights_sha256"] in note
    assert "T = 3" in note and "alpha = 0.5" in note and str(teacher.path.parent) not in text
    rows = {line.split(" | ")[0].strip("| "): line for line in note.splitlines() if line.startswith("| ")}
    assert f"{student.metrics()['metrics']['accuracy']:.4g}" in rows["this student, with the teacher"]
    assert "alone" in rows["the student without the teacher"]


def test_a_teacher_trained_on_other_data_is_one_error_line(tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    np.savez(tmp_path / "half.npz", x=(digits.images[:600] * 255 / 16).astype(np.uint8), y=digits.target[:600])
    other = zoo.train("cnn-digits", epochs=1, overrides=TINY["cnn-digits"], data=tmp_path / "half.npz",
                      out=tmp_path / "other")
    result = invoke_zoo("train", "cnn-tiny-digits", "--teacher", str(other.path), "--out", str(tmp_path / "s"))
    assert result.code == 2 and "trained on other data" in one_error_line(result.err)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("args, message", [
    (["cnn-tiny-digits", "--set", "kd_alpha=0.5"], "kd_alpha is a distillation setting: give --teacher RUN"),
    (["gan-digits", "--teacher", "TEACHER"], "gan-digits is a generation model"),
    (["cnn-tiny-digits", "--teacher", "TEACHER", "--set", "kd_alpha=2"], "kd_alpha must be between 0 and 1"),
    (["cnn-tiny-digits", "--teacher", "TEACHER", "--dp-epsilon", "8"], "--teacher and --dp-epsilon do not combine"),
])
def test_bad_distillation_requests_are_one_error_line(tmp_path, tiny_run, args, message):
    args = [str(tiny_run("cnn-digits").path) if a == "TEACHER" else a for a in args]
    result = invoke_zoo("train", *args, "--out", str(tmp_path / "r"))
    assert result.code == 2, result.err
    assert message in one_error_line(result.err)
    assert not (tmp_path / "r").exists()


def test_a_resumed_student_ends_where_an_uninterrupted_one_does(tmp_path, student, tiny_run):
    from test_privacy import StopAfter

    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        zoo.train("cnn-tiny-digits", overrides={**STUDENT, "kd_temperature": 3.0}, teacher=tiny_run("cnn-digits").path,
                  out=out, progress=StopAfter(1))
    resumed = zoo.train(resume=out)
    assert resumed.record["teacher"] == student.record["teacher"]
    assert resumed.metrics()["metrics"] == student.metrics()["metrics"]
    assert sha256_file(out / WEIGHTS) == sha256_file(student.path / WEIGHTS)


def test_a_changed_teacher_stops_the_resumed_student(tmp_path, student):
    from zoo.models import load_trained
    from zoo.options.distill import DistillError, load_teacher

    record = {**student.record["teacher"], "weights_sha256": "0" * 64}
    with pytest.raises(DistillError, match="other weights than when this run began"):
        load_teacher(record, None, student.config, "cpu", load_trained)
