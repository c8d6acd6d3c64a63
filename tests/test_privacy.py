"""Differentially private training: the budget holds, survives resume, exports, and is refused where it cannot work."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import zoo
from conftest import TINY, invoke_zoo, one_error_line, run_zoo
from zoo.models import load_trained
from zoo.fsutil import sha256_file
from zoo.runs import WEIGHTS

# A tiny private cnn-digits: 3 epochs of 5 Poisson batches (q = 1/5 of 1,257 samples).
PRIVATE = {"overrides": TINY["cnn-digits"], "batch_size": 256, "lr": 0.01, "dp_epsilon": 4.0}


class StopAfter:
    """A progress display that presses Ctrl-C once ``epochs`` epochs are checkpointed."""

    def __init__(self, epochs: int) -> None:
        self.epochs, self.done = epochs, 0

    def start(self, total_steps, done_steps):
        pass

    def advance(self):
        pass

    def epoch_done(self, record, epochs):
        self.done += 1
        if self.done == self.epochs:
            raise KeyboardInterrupt

    def close(self):
        pass


@pytest.fixture(scope="module")
def private_run(tmp_path_factory, tiny_run):
    """The tiny private run, compared with the session's tiny non-private cnn-digits run (--baseline)."""
    out = tmp_path_factory.mktemp("private") / "run"
    return zoo.train("cnn-digits", **PRIVATE, out=out, baseline=tiny_run("cnn-digits").path)


def test_spent_epsilon_is_at_most_the_target_and_recorded(private_run):
    privacy = private_run.metrics()["privacy"]
    history = private_run.history()
    assert 0.9 * 4.0 < privacy["epsilon"] <= privacy["target_epsilon"] == 4.0
    spent = [h["epsilon"] for h in history]
    assert spent == sorted(spent) and len(spent) == 3 and spent[-1] == pytest.approx(privacy["epsilon"], abs=1e-5)
    assert privacy["delta"] == 1e-5 and privacy["accountant"] == "prv" and privacy["max_grad_norm"] == 1.0
    assert privacy["noise_multiplier"] > 0.5 and privacy["steps"] == 15 and privacy["sample_rate"] == 0.2
    assert 0.0 <= privacy["membership_inference"]["auroc"] <= 1.0
    assert privacy["membership_inference"]["members"] == 1257 and privacy["membership_inference"]["non_members"] == 360
    config = private_run.config
    assert {k: config[k] for k in ("dp_epsilon", "dp_delta", "dp_max_grad_norm", "dp_accountant")} == {
        "dp_epsilon": 4.0, "dp_delta": 1e-5, "dp_max_grad_norm": 1.0, "dp_accountant": "prv"}
    changed = private_run.record["privacy"]["layers_changed"]
    assert any("BatchNorm2d -> GroupNorm" in c for c in changed) and any("inplace=False" in c for c in changed)


def test_the_saved_model_is_the_plain_private_network(private_run):
    """load_trained rebuilds GroupNorm in place of BatchNorm, with no Opacus wrapper, and re-evaluates equal."""
    _, model, _, _, _ = load_trained(private_run.path)
    kinds = {type(m).__name__ for m in model.modules()}
    assert "GroupNorm" in kinds and "BatchNorm2d" not in kinds and "GradSampleModule" not in kinds
    assert zoo.evaluate(private_run.path) == private_run.metrics()["metrics"]


def test_resumed_private_run_ends_with_the_same_epsilon_and_metrics(tmp_path, private_run, tiny_run):
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        zoo.train("cnn-digits", **PRIVATE, out=out, baseline=tiny_run("cnn-digits").path, progress=StopAfter(1))
    assert json.loads((out / "state.json").read_text())["status"] == "interrupted"
    resumed = zoo.train(resume=out)
    assert resumed.metrics()["privacy"] == private_run.metrics()["privacy"]
    assert resumed.metrics()["metrics"] == private_run.metrics()["metrics"]
    assert resumed.history()[-1]["epsilon"] == private_run.history()[-1]["epsilon"]
    assert sha256_file(out / WEIGHTS) == sha256_file(private_run.path / WEIGHTS)


def test_private_run_exports_and_verifies(tmp_path, private_run):
    from zoo.bundle.export import export_run
    from zoo.bundle.verify import verify

    bundle = export_run(private_run.path, tmp_path / "bundle")
    report = verify(bundle)
    assert report["passed"] is True, report


def test_card_states_the_budget_and_the_measured_leak_beside_the_baseline(tmp_path, private_run, tiny_run):
    from zoo.cards.make import make_card
    from zoo.cards.render import to_markdown

    card = make_card(private_run.path, tmp_path)
    privacy = card["privacy"]
    assert privacy["epsilon"] == private_run.metrics()["privacy"]["epsilon"] <= 4.0
    baseline = privacy["baseline"]
    assert baseline["run"] == tiny_run("cnn-digits").path.name
    assert baseline["accuracy"] == tiny_run("cnn-digits").metrics()["metrics"]["accuracy"]
    assert 0.0 <= baseline["membership_inference"]["auroc"] <= 1.0
    text = to_markdown(card)
    section = text.split("## Privacy", 1)[1].split("\n## ", 1)[0]
    assert f"**epsilon = {privacy['epsilon']:.4g}**" in section and "delta = 1e-05" in section
    assert "the same model without differential privacy" in section and "times more or less likely" in section


def test_membership_attack_scores_a_memorising_model_high():
    """The attack's measure itself: a lookup table of the training labels is found out, a constant is not."""
    from zoo.data import Arrays, Data, DataInfo
    from zoo.membership import loss_attack

    rng = np.random.default_rng(0)
    train = Arrays(rng.random((50, 1, 2, 2), dtype=np.float32), rng.integers(0, 3, 50))
    test = Arrays(rng.random((40, 1, 2, 2), dtype=np.float32), rng.integers(0, 3, 40))
    data = Data(DataInfo("toy", "image", (1, 2, 2), 3), train, test, test, "toy", "0")

    class Memory(torch.nn.Module):
        def forward(self, x):
            hits = (x.flatten(1)[:, None, :] == torch.from_numpy(train.x).flatten(1)[None]).all(-1).float()
            known = hits @ torch.nn.functional.one_hot(torch.from_numpy(train.y), 3).float()
            return 10 * known

    class Constant(torch.nn.Module):
        def forward(self, x):
            return torch.zeros(len(x), 3)

    assert loss_attack(Memory(), data)["auroc"] == 1.0
    assert loss_attack(Constant(), data)["auroc"] == 0.5


@pytest.mark.parametrize("args, message", [
    (["gan-digits", "--dp-epsilon", "8"], "gan-digits is a generation model"),
    (["ae-digits", "--dp-epsilon", "8"], "ae-digits is a reconstruction model"),
    (["rnn-digits", "--dp-epsilon", "8"], "Opacus has no per-sample gradient for RNN"),
    (["cnn-digits", "--dp-epsilon", "8", "--nproc-per-node", "2"], "differential privacy trains in one process"),
    (["cnn-digits", "--dp-delta", "1e-5"], "dp_delta needs --dp-epsilon"),
    (["cnn-digits", "--dp-epsilon", "-1"], "--dp-epsilon must be positive"),
    (["cnn-digits", "--dp-epsilon", "8", "--dp-delta", "0.01"], "is not below 1/N"),
    (["cnn-digits", "--baseline", "runs/x"], "--baseline compares a private"),
])
def test_private_training_where_it_cannot_work_is_one_error_line(tmp_path, args, message):
    result = invoke_zoo("train", *args, "--out", str(tmp_path / "r"))
    assert result.code == 2, result.err
    assert message in one_error_line(result.err)
    assert not (tmp_path / "r").exists()


def test_info_says_which_models_train_privately(without_torch):
    lazy = run_zoo("info", "cnn-digits", env=without_torch)  # torch-free: the layers are checked when asked
    assert lazy.code == 0, lazy.err
    assert "differential privacy  --dp-epsilon, Opacus: the core's recipe trains it; Opacus checks its layers" in lazy.out
    supported = invoke_zoo("info", "cnn-digits", "--check")
    assert "differential privacy  supported (--dp-epsilon, Opacus)" in supported.out
    assert "Opacus has no per-sample gradient for RNN" in invoke_zoo("info", "rnn-digits", "--check").out
    refused = json.loads(invoke_zoo("info", "gan-digits", "--json").out)["training_options"]
    assert refused["differential privacy"]["supported"] is False
