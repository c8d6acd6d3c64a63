"""The core's explainability assessments (zoo.assess.explain): well-formed, deterministic, and measuring
what they claim (a deletion curve rewards a faithful order; the sanity check sees an unchanged model)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from zoo.assess import Context, Result, explain
from zoo.assess.explain import attributions, faithfulness, generation, reconstruction

BUDGET = 0.15
PNG = b"\x89PNG\r\n\x1a\n"


def _context(run, folder, budget: float = BUDGET) -> Context:
    from zoo.api import load_trained

    spec, model, data, config, _ = load_trained(run.path)
    folder.mkdir(exist_ok=True)
    return Context(spec, model, data, config, seed=int(config["seed"]), budget=budget, folder=folder)


def _measure_all(ctx: Context) -> dict[str, Result]:
    """Every explainability assessment of the model, as the runner calls them (figures named after each)."""
    results = {}
    for assessment in explain.assessments(ctx.spec):
        assert not assessment.problems() and assessment.section == "explainability"
        ctx.prefix = f"{assessment.name}-"
        results[assessment.name] = assessment.measure(ctx)
    return results


def _check_well_formed(ctx: Context, results: dict[str, Result]) -> None:
    for name, result in results.items():
        assert isinstance(result, Result) and result.summary and result.method, name
        json.dumps({"values": result.values, "tables": [t.__dict__ for t in result.tables]}, allow_nan=False)
        for table in result.tables:
            assert all(len(row) == len(table.headers) for row in table.rows), name
        for figure in result.figures:
            assert figure.file.startswith(f"{name}-") and figure.caption
            assert (ctx.folder / figure.file).read_bytes()[:8] == PNG


EXPECTED = {
    "cnn-digits": {"attributions", "attribution-quality"},
    "lstm-digits": {"attributions", "attribution-quality"},
    "ae-digits": {"reconstruction-errors", "latent-traversal"},
    "cgan-digits": {"latent-interpolation"},
}
REPEATED = {"cnn-digits", "ae-digits", "cgan-digits"}  # lstm-digits draws as cnn-digits does: once is enough


@pytest.mark.parametrize("model", list(EXPECTED))
def test_each_task_is_measured_well_formed_and_deterministic(model, tiny_run, tmp_path):
    ctx = _context(tiny_run(model), tmp_path / "first")
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    first = _measure_all(ctx)
    assert torch.equal(state, torch.get_rng_state()), "an assessment moved the global random state"
    assert torch.get_num_threads() == threads
    assert set(first) == EXPECTED[model]
    _check_well_formed(ctx, first)
    if model in REPEATED:
        again = _measure_all(_context(tiny_run(model), tmp_path / "again"))
        assert {k: r.values for k, r in again.items()} == {k: r.values for k, r in first.items()}
        assert {k: r.summary for k, r in again.items()} == {k: r.summary for k, r in first.items()}

    if "attribution-quality" in first:
        values = first["attribution-quality"].values
        assert set(values["methods"]) == set(attributions.METHODS)
        for method, numbers in values["methods"].items():
            assert {"deletion_auc", "random_auc", "beats_random", "sanity_spearman"} <= set(numbers)
            phrase = attributions.NAMES[method]
            assert phrase.lower() in first["attribution-quality"].summary.lower()
        assert values["most_faithful"] in (*attributions.METHODS, None)
    if "latent-traversal" in first:
        values = first["latent-traversal"].values
        assert values["traversed"] and len(values["pixel_change"]) == len(values["dimensions"]) > 0
    if "latent-interpolation" in first:  # the conditional GAN: its class grid too
        assert len(first["latent-interpolation"].figures) == 2
        assert first["latent-interpolation"].values["class_to_noise_change"] > 0


def test_a_model_without_encoder_and_decoder_graphs_says_so(tiny_run, tmp_path):
    result = reconstruction.measure_latent_traversal(_context(tiny_run("cnn-digits"), tmp_path))
    assert result.values == {"traversed": False} and "no encoder and decoder" in result.summary


class _Linear(torch.nn.Module):
    """Two logits: w . x and 0. The exact attribution of class 0 (zero baseline) is w * x."""

    def __init__(self, weights: torch.Tensor) -> None:
        super().__init__()
        self.weights = weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (x.reshape(len(x), -1) * self.weights).sum(dim=1)
        return torch.stack([score, torch.zeros_like(score)], dim=1)


def test_deletion_curve_rewards_the_faithful_order():
    generator = torch.Generator().manual_seed(0)
    weights = torch.randn(16, generator=generator)
    model = _Linear(weights)
    x = torch.rand(6, 1, 4, 4, generator=generator)
    target = torch.zeros(6, dtype=torch.long)
    faithful = faithfulness.most_attributed_first(x.reshape(6, -1) * weights)
    curves = faithfulness.deletion_curve(model, x, faithful, target, steps=8)
    # it starts at the model's probability for the whole input and ends at the zero baseline's (0.5)
    assert np.allclose(curves[:, 0], torch.softmax(model(x), dim=1)[:, 0].numpy(), atol=1e-6)
    assert np.allclose(curves[:, -1], 0.5)
    backwards = faithfulness.deletion_curve(model, x, faithful[:, ::-1].copy(), target, steps=8)
    randoms = [faithfulness.deletion_curve(model, x, order, target, steps=8)
               for order in faithfulness.random_orders(np.random.default_rng(0), 6, 16, 5)]
    random_area = np.mean([faithfulness.curve_area(c) for c in randoms])
    assert faithfulness.curve_area(curves) < random_area < faithfulness.curve_area(backwards)


def test_the_summary_says_plainly_which_method_won_and_which_did_not_beat_random():
    def numbers(area: float, sanity: float | None) -> dict:
        return {"deletion_auc": area, "random_auc": 0.4, "difference": 0.4 - area, "beats_random": area < 0.4,
                "sanity_spearman": sanity}

    summary = faithfulness._quality_summary({"integrated-gradients": numbers(0.1, 0.9),
                                             "kernel-shap": numbers(0.2, 0.1), "lime": numbers(0.45, None)},
                                            "integrated-gradients")
    assert summary.startswith("Integrated gradients was the most faithful")
    assert "0.10, against 0.40 for random orders (0.30 lower)" in summary
    assert "KernelSHAP by 0.20" in summary and "LIME did NOT beat random order (0.45 against 0.40)" in summary
    assert "integrated gradients 0.90, KernelSHAP 0.10, LIME undefined" in summary
    nobody = faithfulness._quality_summary({"lime": numbers(0.5, 0.2)}, None)
    assert "most faithful" not in nobody and "LIME did NOT beat random" in nobody


def test_curve_area_is_normalised():
    assert faithfulness.curve_area(np.ones((3, 11))) == pytest.approx(1.0)
    assert faithfulness.curve_area(np.linspace(1, 0, 11)[None, :]) == pytest.approx(0.5)


def test_sanity_check_sees_an_unchanged_model_as_the_same(tiny_run, tmp_path):
    ctx = _context(tiny_run("cnn-digits"), tmp_path)
    x = torch.from_numpy(ctx.data.test.x[:4])
    target = ctx.model(x).argmax(dim=1)
    for method in attributions.METHODS:
        first = attributions.attribute(method, ctx.model, x, target, seed=1, samples=24)
        same = attributions.attribute(method, ctx.model, x, target, seed=1, samples=24)
        assert faithfulness.sanity_spearman(first, same) == pytest.approx(1.0)


def test_the_control_network_is_the_untrained_one_and_leaves_global_randomness_alone(tiny_run, tmp_path):
    ctx = _context(tiny_run("cnn-digits"), tmp_path)
    state = torch.get_rng_state()
    control = faithfulness.untrained(ctx)
    assert torch.equal(state, torch.get_rng_state())
    trained, fresh = ctx.model.state_dict(), control.state_dict()
    assert trained.keys() == fresh.keys() and not control.training
    assert any(not torch.equal(trained[k], fresh[k]) for k in trained)
    again = faithfulness.untrained(ctx).state_dict()
    assert all(torch.equal(fresh[k], again[k]) for k in fresh)


def test_a_constant_map_gives_no_correlation_rather_than_a_flattering_one():
    flat = torch.zeros(2, 8)
    assert faithfulness.sanity_spearman(torch.rand(2, 8), flat) is None


def test_interpolation_smoothness_reads_an_even_walk_as_even():
    walk = np.linspace(0, 1, 8)[None, :, None] * np.ones((2, 8, 4))
    smooth = generation.path_smoothness(walk)
    assert smooth["path_ratio"] == pytest.approx(1.0)
    assert smooth["largest_step_share"] == pytest.approx(1 / 7)
    jump = np.concatenate([np.zeros((2, 7, 4)), np.ones((2, 1, 4))], axis=1)
    assert generation.path_smoothness(jump)["largest_step_share"] == pytest.approx(1.0)


def test_border_share():
    errors = np.zeros((8, 8))
    errors[3:5, 3:5] = 1.0
    share, pixels = reconstruction.border_share(errors)
    assert share == 0.0 and pixels == pytest.approx(28 / 64)
