"""The core's safety assessments (zoo.assess.safety): well-formed, deterministic, and right on known cases."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from zoo.assess import Context, Result, safety
from zoo.assess.safety import calibration, generation, membership, ood, robustness

BUDGET = 0.1
EXPECTED = {
    "cnn-digits": ["calibration", "robustness", "ood-detection", "membership-inference"],
    "ae-digits": ["ood-detection", "membership-inference"],
    "cgan-digits": ["data-copying", "class-coverage"],
}


def _measure_all(run, folder: Path) -> dict[str, Result]:
    """Every safety assessment of ``run``, as the runner calls them: one context, a prefix per assessment."""
    from zoo.api import load_trained

    spec, model, data, config, _ = load_trained(run)
    folder.mkdir()
    ctx = Context(spec, model, data, dict(config), seed=int(config["seed"]), budget=BUDGET, folder=folder)
    results = {}
    for assessment in safety.assessments(spec):
        ctx.prefix = f"{assessment.name}-"
        results[assessment.name] = assessment.measure(ctx)
    return results


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_results_are_well_formed_and_deterministic(name, tiny_run, tmp_path):
    run = tiny_run(name)
    first, second = _measure_all(run, tmp_path / "a"), _measure_all(run, tmp_path / "b")
    assert list(first) == EXPECTED[name]
    for key, result in first.items():
        assert isinstance(result, Result) and result.summary and result.method and result.figures, key
        json.dumps(result.values, allow_nan=False)
        for table in result.tables:
            assert all(len(row) == len(table.headers) for row in table.rows), key
            json.dumps(table.rows, allow_nan=False)
        for figure in result.figures:
            assert figure.file.startswith(f"{key}-") and figure.caption
            assert (tmp_path / "a" / figure.file).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (result.values, result.summary) == (second[key].values, second[key].summary), key


def test_numbers_agree_with_their_definitions(tiny_run, tmp_path):
    """Temperature scaling never worsens validation NLL, and the classifier's membership numbers are loss_attack's."""
    from zoo.api import load_trained
    from zoo.membership import loss_attack

    results = _measure_all(tiny_run("cnn-digits"), tmp_path / "a")
    calibrated = results["calibration"].values
    assert calibrated["validation_nll_scaled"] <= calibrated["validation_nll"]
    assert calibrated["temperature"] > 0
    _, model, data, _, _ = load_trained(tiny_run("cnn-digits"))
    assert results["membership-inference"].values == loss_attack(model, data)
    curves = results["robustness"].values["curves"]
    assert set(curves) >= {"gaussian noise", "shift rows", "shift columns", "FGSM"}
    pgd = next(c for n, c in curves.items() if n.startswith("PGD"))
    assert all(p <= f for p, f in zip(pgd["accuracy"], curves["FGSM"]["accuracy"]))  # PGD counts FGSM's finds too


def test_chosen_by_task_not_family():
    from zoo.specs import ModelSpec

    for task, names in (("classification", EXPECTED["cnn-digits"]), ("reconstruction", EXPECTED["ae-digits"]),
                        ("generation", EXPECTED["cgan-digits"])):
        spec = ModelSpec(name="m", family="someone-elses", task=task, dataset="digits", summary="x")
        assert [a.name for a in safety.assessments(spec)] == names
        assert all(a.section == "safety" and not a.problems() for a in safety.assessments(spec))


def test_expected_calibration_error_of_a_known_case():
    # Four samples at confidence 0.9 with three right (gap 0.15), two at 0.6 both right (gap 0.4):
    # ECE = 4/6 * 0.15 + 2/6 * 0.4.
    probs = np.array([[0.9, 0.1]] * 4 + [[0.4, 0.6]] * 2)
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert calibration.expected_calibration_error(probs, labels) == pytest.approx(4 / 6 * 0.15 + 2 / 6 * 0.4)
    assert calibration.expected_calibration_error(np.array([[0.5, 0.5]] * 2), np.array([0, 1])) == pytest.approx(0.0)


def test_temperature_scaling_tames_an_overconfident_model():
    rng = np.random.default_rng(0)
    honest = rng.normal(size=(500, 5)) * 2
    labels = np.array([rng.choice(5, p=p) for p in calibration.softmax(honest)])  # drawn from the honest probabilities
    overconfident = 3 * honest
    temperature = calibration.fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(3, rel=0.25)
    assert calibration.nll(overconfident, labels, temperature) < calibration.nll(overconfident, labels)
    assert (calibration.expected_calibration_error(calibration.softmax(overconfident, temperature), labels)
            < calibration.expected_calibration_error(calibration.softmax(overconfident), labels))


def test_ood_auroc_separates_what_is_separable():
    rng = np.random.default_rng(0)
    assert ood.separation(1 + rng.random(50), rng.random(80)) == 1.0
    assert ood.separation(rng.random(2000), rng.random(2000)) == pytest.approx(0.5, abs=0.05)
    patches = ood.natural_patches((1, 8, 8), 6, np.random.default_rng(1))
    assert patches.shape == (6, 1, 8, 8) and patches.dtype == np.float32
    assert 0.0 <= patches.min() and patches.max() <= 1.0
    assert np.array_equal(patches, ood.natural_patches((1, 8, 8), 6, np.random.default_rng(1)))
    assert ood.natural_patches((8, 8), 2, np.random.default_rng(1)).shape == (2, 8, 8)


def test_shift_moves_by_one_and_fills_with_background():
    import torch

    x = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    assert robustness.shift(x, 3, 1)[0, 0].tolist() == [[0, 1, 2], [0, 4, 5], [0, 7, 8]]
    assert robustness.shift(x, 2, -1)[0, 0].tolist() == [[4, 5, 6], [7, 8, 9], [0, 0, 0]]
    assert robustness.spatial_axes("sequence", 3) == {"time": 1}


def test_data_copying_flags_a_generator_that_returns_training_samples(tiny_run):
    from zoo.api import load_trained

    data = load_trained(tiny_run("cgan-digits"))[2]
    train, test = data.train.x, data.test.x
    half = len(test) // 2
    copier = generation.data_copying(train[:300], train, test)
    assert copier["ratio"] == pytest.approx(0.0) and copier["z"] < -10 and copier["p_value"] < 1e-6
    assert "copies" in generation._copying_verdict(copier["ratio"], copier["z"])
    honest = generation.data_copying(test[:half], train, test[half:])  # new samples from the data: held-out digits
    assert 0.8 < honest["ratio"] < 1.25 and honest["z"] > -3
    assert "no sign of copying" in generation._copying_verdict(honest["ratio"], honest["z"])


def test_class_coverage_sees_mode_collapse():
    collapsed = generation.class_coverage(np.array([3] * 90 + [4] * 10), 10)
    assert collapsed["classes_present"] == 2 and collapsed["normalised_entropy"] < 0.2
    even = generation.class_coverage(np.arange(1000) % 10, 10)
    assert even["class_fraction"] == 1.0 and even["normalised_entropy"] == pytest.approx(1.0)


def test_membership_result_reads_half_as_no_leak(tmp_path):
    """The summary's verdict follows the AUROC: equal loss distributions leak nothing."""
    ctx = Context(spec=None, model=None, data=None, config={}, seed=0, budget=1.0, folder=tmp_path, prefix="m-")
    rng = np.random.default_rng(0)
    same = membership._membership_result(ctx, rng.random(500) + 0.01, rng.random(500) + 0.01, "loss", "test")
    assert abs(same.values["auroc"] - 0.5) < 0.05 and "little leaks" in same.summary
    leaky = membership._membership_result(replace(ctx, prefix="n-"), rng.random(500) * 0.1 + 0.01,
                                      rng.random(500) + 0.5, "loss", "test")
    assert leaky.values["auroc"] > 0.9 and "leaks measurably" in leaky.summary
