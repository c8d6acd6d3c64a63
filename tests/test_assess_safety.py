"""The core's safety assessments (zoo.assess.safety): well-formed, deterministic, and right on known cases."""
from __future__ import annotations

import json
import math
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
    from zoo.assess.runner import make_context
    from zoo.models import load_trained

    spec, model, data, config, _ = load_trained(run)
    folder.mkdir()
    ctx = make_context(spec, model, data, config, BUDGET, folder)
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
    if "ood-detection" in first:  # the outside sets are described once, in the same words for every task
        assert first["ood-detection"].method.count("Outside sets:") == 1
        assert ood.OUTSIDE_SETS in first["ood-detection"].method


def test_numbers_agree_with_their_definitions(tiny_run, tmp_path):
    """Temperature scaling never worsens validation NLL, and the classifier's membership numbers are loss_attack's."""
    from zoo.models import load_trained
    from zoo.membership import loss_attack

    results = _measure_all(tiny_run("cnn-digits"), tmp_path / "a")
    calibrated = results["calibration"].values
    assert calibrated["validation_nll_scaled"] <= calibrated["validation_nll"]
    assert calibrated["temperature"] > 0
    assert calibrated["temperature_advised"] == (calibrated["validation_ece_scaled"] < calibrated["validation_ece"])
    detected = results["ood-detection"].values
    assert f"rests on {detected['errors']} error" in results["ood-detection"].summary
    assert detected["misclassification_reliable"] == (detected["errors"] >= ood.MIN_ERRORS)
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


def test_a_misclassification_auroc_says_how_many_errors_it_rests_on():
    few = ood._misclassification(0.996, 2, 360)
    assert "AUROC 0.996, which rests on 2 errors in 360 test predictions" in few and "uncertain" in few
    assert "near perfect" not in few and "good" not in few
    one = ood._misclassification(0.9, 1, 360)
    assert "rests on 1 error in" in one and "uncertain" in one
    many = ood._misclassification(0.996, 40, 360)
    assert "rests on 40 errors" in many and "(near perfect)" in many and "uncertain" not in many
    assert "undefined" in ood._misclassification(None, 0, 360)


def _logit_context(tmp_path: Path, val: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]):
    """A context whose model returns its input: the inputs are the logits, so both splits are built by hand."""
    from types import SimpleNamespace

    import torch

    from zoo.data import Arrays

    split = lambda pair: Arrays(pair[0].astype(np.float32), pair[1])  # noqa: E731
    return Context(spec=None, model=torch.nn.Identity(), data=SimpleNamespace(val=split(val), test=split(test)),
                   config={}, seed=0, budget=1.0, folder=tmp_path, prefix="calibration-")


def _calibrated() -> tuple[np.ndarray, np.ndarray]:
    """Two-class logits whose confidence is exactly their accuracy in each bin: ECE 0, and no temperature helps."""
    logits = np.array([[math.log(99), 0.0]] * 100 + [[math.log(1.5), 0.0]] * 10)
    labels = np.array([0] * 99 + [1] + [0] * 6 + [1] * 4)
    return logits, labels


def _overconfident(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    honest = rng.normal(size=(400, 5)) * 2
    return 3 * honest, np.array([rng.choice(5, p=p) for p in calibration.softmax(honest)])


def test_the_temperature_is_advised_by_the_validation_split_and_measured_on_test(tmp_path):
    # validation overconfident, test already calibrated: validation says apply it, test measures that it hurts
    advised = calibration.measure_calibration(_logit_context(tmp_path, _overconfident(0), _calibrated()))
    v = advised.values
    assert v["temperature"] == pytest.approx(3, rel=0.25) and v["temperature_advised"] is True
    assert v["validation_ece_scaled"] < v["validation_ece"] and v["ece_scaled"] > v["ece"]
    assert "so divide the logits by" in advised.summary and "ECE rises from" in advised.summary
    # validation calibrated, test overconfident: no advice, whatever the test split would have preferred
    kept = calibration.measure_calibration(_logit_context(tmp_path, _calibrated(), _overconfident(1)))
    v = kept.values
    assert v["validation_ece"] == pytest.approx(0.0, abs=1e-9) and v["temperature_advised"] is False
    assert v["temperature"] == pytest.approx(1.0, abs=1e-3)
    assert "does not lower the ECE" in kept.summary and "divide the logits" not in kept.summary
    assert kept.tables[0].headers[-2:] == ["validation ECE", "validation NLL"]


def test_shift_moves_by_one_and_fills_with_background():
    import torch

    x = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    assert robustness.shift(x, 3, 1)[0, 0].tolist() == [[0, 1, 2], [0, 4, 5], [0, 7, 8]]
    assert robustness.shift(x, 2, -1)[0, 0].tolist() == [[4, 5, 6], [7, 8, 9], [0, 0, 0]]
    assert robustness.spatial_axes("sequence", 3) == {"time": 1}


@pytest.fixture(scope="module")
def digits():
    """The generators' data (the digits), loaded directly: no model needs training for these tests."""
    import zoo.models
    import zoo.registry

    return zoo.models.load_model_data(zoo.registry.get_model("gan-digits"))


def test_data_copying_flags_a_generator_that_returns_training_samples(digits):
    train, test = digits.train.x, digits.test.x
    copier = generation.data_copying(train[:300], train, test)
    assert copier["ratio"] == pytest.approx(0.0) and copier["z"] < -10 and copier["p_value"] < 1e-6
    assert generation.copying_verdict(copier["p_value"], copier["z"]) == "copying"
    honest = generation.data_copying(test[::2], train, test[1::2])  # new samples from the data: held-out digits
    assert 0.8 < honest["ratio"] < 1.25 and honest["p_value"] > generation.ALPHA
    assert generation.copying_verdict(honest["p_value"], honest["z"]) in ("no copying", "inconclusive")
    noisy = np.clip(test[::2] + np.random.default_rng(0).normal(0, 0.3, test[::2].shape), 0, 1)
    blurred = generation.data_copying(noisy, train, test[1::2])  # farther from the data than real samples
    assert blurred["z"] > 3 and blurred["p_value_farther"] < generation.ALPHA
    assert generation.copying_verdict(blurred["p_value"], blurred["z"]) == "no copying"


def test_held_out_samples_are_called_copies_only_at_the_tests_level(digits):
    """Two random halves of the held-out digits are exchangeable: the test flags them at rate ALPHA, no more."""
    train, test = digits.train.x, digits.test.x
    rng, flagged = np.random.default_rng(0), 0
    for _ in range(40):
        order = rng.permutation(len(test))
        found = generation.data_copying(test[order[:180]], train, test[order[180:]])
        flagged += generation.copying_verdict(found["p_value"], found["z"]) == "copying"
    assert flagged <= 2


def _copying_values(ratio: float | None, z: float, p_value: float, p_value_farther: float) -> dict:
    return {"ratio": ratio, "z": z, "p_value": p_value, "p_value_farther": p_value_farther,
            "verdict": generation.copying_verdict(p_value, z),
            "possible_underfitting": generation.possible_underfitting(z, p_value_farther)}


def test_the_copying_verdict_reads_the_test_as_meehan_et_al_do():
    # the reviewed case: z -3.01, p 0.0013 is significant at 0.01: a sign of copying, its size the ratio
    reviewed = _copying_values(0.943, -3.01, 0.0013, 0.9987)
    assert reviewed["verdict"] == "copying"
    sentence = generation._copying_sentence(reviewed)
    assert "significantly closer" in sentence and "a sign of data copying" in sentence
    assert "94.3% of the held-out samples' (5.7% closer)" in sentence and "no strong sign" not in sentence
    weak = _copying_values(0.98, -1.2, 0.115, 0.885)
    assert weak["verdict"] == "inconclusive" and "not significantly" in generation._copying_sentence(weak)
    none = _copying_values(1.02, 0.7, 0.758, 0.242)
    assert none["verdict"] == "no copying" and not none["possible_underfitting"]
    assert "no sign of copying" in generation._copying_sentence(none)
    assert "underfitting" not in generation._copying_sentence(none)
    far = _copying_values(1.6, 9.0, 1.0, 1e-19)
    assert far["verdict"] == "no copying" and "possibly underfitting" in generation._copying_sentence(far)
    assert "No ratio" in generation._copying_sentence(_copying_values(None, -5.0, 1e-7, 1.0))


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
