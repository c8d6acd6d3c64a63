"""Whether an attribution can be trusted: deletion curves against random orders (faithful to the model?),
the model-randomisation sanity check (about what was learned?) and infidelity, for each method.

A few dozen samples cannot rank methods whose deletion areas differ by a hundredth, so every comparison
carries a seeded paired bootstrap interval over the samples, and a verdict is stated only where its
interval excludes zero: a method beats random order, or wins, only when the data say so."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.assess import Context, Figure, Result, Table
from ._shared import STREAM, mean_spearman, plural, stream_seed
from .attributions import METHODS, NAMES, attribute, surrogate_samples
from zoo.plots import legend_outside, pyplot, save_png
from zoo.recipes import lengths_of

if TYPE_CHECKING:  # pragma: no cover
    import torch

QUALITY_SAMPLES = 20  # test samples the deletion curves and the sanity check are measured on
DELETION_STEPS = 10
RANDOM_ORDERS = 3
INFIDELITY_SAMPLES = 10
INFIDELITY_NOISE = 0.1  # std of the Gaussian perturbations infidelity is measured under (inputs in [0, 1])
BOOTSTRAP_RESAMPLES = 1000  # paired resamples of the samples behind every interval of a deletion-area difference
LEVEL = 0.95  # the intervals' coverage (percentile bootstrap)
MIN_INTERVAL_SAMPLES = 10  # fewer samples give no interval (a percentile bootstrap of 1-9 values is not one), so
# no method is said to beat random order or to win
SANITY_THRESHOLD = 0.5  # the sanity check passes when the mean Spearman correlation with the untrained network's
# |attribution| is below this: this project's rule (Adebayo et al. 2018 give none), at which the trained map shares
# less than half its ranking with a map that knows nothing of the data


def deletion_curve(model, x: torch.Tensor, order: np.ndarray, target: torch.Tensor,
                   steps: int = DELETION_STEPS, lengths: torch.Tensor | None = None) -> np.ndarray:
    """The target class's softmax probability as features are set to the zero baseline in ``order``.

    ``order`` (samples x features, flattened) lists each sample's features, first removed first.
    Returns samples x (steps + 1): column k after removing k/steps of the features. A faithful
    attribution, removing the most-attributed first, makes the probability fall early. ``lengths``
    (sequences of different lengths) stay each sample's own at every step.
    """
    import torch

    from zoo.training import predict_batches

    n, features = len(x), x[0].numel()
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(features)[None, :].repeat(n, axis=0), axis=1)
    removed = np.round(np.linspace(0, features, steps + 1)).astype(int)
    keep = torch.from_numpy(rank[:, None, :] >= removed[None, :, None])  # n x (steps + 1) x features
    batch = torch.where(keep, x.reshape(n, 1, features), torch.zeros(()))
    repeated = None if lengths is None else lengths.repeat_interleave(steps + 1)
    logits = predict_batches(model, batch.reshape(n * (steps + 1), *x.shape[1:]).contiguous(), lengths=repeated)
    probabilities = torch.softmax(logits, dim=-1).reshape(n, steps + 1, -1)
    chosen = probabilities.gather(2, target.reshape(n, 1, 1).expand(n, steps + 1, 1))
    return chosen[..., 0].numpy()


def sample_areas(curves: np.ndarray) -> np.ndarray:
    """Each sample's area under its deletion curve over the removed fraction in [0, 1] (trapezoids)."""
    heights = (curves[:, 1:] + curves[:, :-1]) / 2
    return heights.sum(axis=1) / (curves.shape[1] - 1)


def curve_area(curves: np.ndarray) -> float:
    """Mean area under the deletion curves over the removed fraction in [0, 1]: lower is more faithful."""
    return float(sample_areas(curves).mean())


def paired_intervals(differences: dict[str, np.ndarray], rng: np.random.Generator,
                     resamples: int = BOOTSTRAP_RESAMPLES, level: float = LEVEL) -> dict[str, list[float] | None]:
    """Percentile bootstrap intervals of the mean of each per-sample difference.

    Every difference is resampled with the same draws of samples (paired: a sample's areas under two
    orders move together), ``resamples`` times. With fewer than ``MIN_INTERVAL_SAMPLES`` samples every
    interval is None: no verdict rests on it.
    """
    count = len(next(iter(differences.values()), []))
    if count < MIN_INTERVAL_SAMPLES:
        return {key: None for key in differences}
    draws = rng.integers(0, count, (resamples, count))
    tails = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    return {key: [float(v) for v in np.percentile(np.asarray(d, np.float64)[draws].mean(axis=1), tails)]
            for key, d in differences.items()}


def above_zero(interval: list[float] | None) -> bool:
    """Whether an interval lies wholly above zero (None, no interval: never)."""
    return interval is not None and interval[0] > 0


def sanity_passed(spearman: float | None) -> bool | None:
    """The sanity check's verdict: passed below ``SANITY_THRESHOLD``; None when the correlation is undefined."""
    return None if spearman is None else bool(spearman < SANITY_THRESHOLD)


def compare(areas: dict[str, np.ndarray], random_areas: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """Each method's deletion area against random orders, and the leader (lowest area) against the others.

    ``areas`` are each method's per-sample deletion areas, ``random_areas`` the same samples' mean area
    under the random orders. A method beats random when the interval of (random - method) lies above 0;
    the leader is the most faithful only when it beats random and the interval of (other - leader) lies
    above 0 for every other method. Returns the per-method numbers and the verdict.
    """
    ranking = sorted(areas, key=lambda m: float(areas[m].mean()))  # stable: a tie keeps the given order
    leader = ranking[0]
    intervals = paired_intervals({**{("random", m): random_areas - areas[m] for m in areas},
                                  **{("behind", m): areas[m] - areas[leader] for m in ranking[1:]}}, rng)
    methods: dict[str, dict[str, Any]] = {}
    for method, found in areas.items():
        area, random_auc = float(found.mean()), float(random_areas.mean())
        methods[method] = {"deletion_auc": area, "random_auc": random_auc, "difference": random_auc - area,
                           "difference_interval": intervals[("random", method)],
                           "beats_random": above_zero(intervals[("random", method)])}
        if method != leader:
            methods[method].update({"behind_leader": float((found - areas[leader]).mean()),
                                    "behind_leader_interval": intervals[("behind", method)]})
    runner_up = ranking[1] if len(ranking) > 1 else None
    clear = methods[leader]["beats_random"] and all(above_zero(methods[m]["behind_leader_interval"])
                                                    for m in ranking[1:])
    return {"methods": methods, "ranking": ranking, "leader": leader, "runner_up": runner_up,
            "margin": None if runner_up is None else methods[runner_up]["behind_leader"],
            "margin_interval": None if runner_up is None else methods[runner_up]["behind_leader_interval"],
            "most_faithful": leader if clear else None}


def most_attributed_first(attributions: torch.Tensor) -> np.ndarray:
    """Each sample's features ordered from the largest (signed) attribution to the smallest."""
    flat = attributions.reshape(len(attributions), -1).numpy()
    return np.argsort(-flat, axis=1, kind="stable")


def random_orders(rng: np.random.Generator, samples: int, features: int, count: int) -> list[np.ndarray]:
    """``count`` random deletion orders, each an independent permutation per sample."""
    return [np.stack([rng.permutation(features) for _ in range(samples)]) for _ in range(count)]


def sanity_spearman(trained: torch.Tensor, control: torch.Tensor) -> float | None:
    """Adebayo et al. 2018: rank correlation of |attribution| between the trained network and a control
    (the same architecture untrained). Near 1: the method explains the architecture, not the learning."""
    return mean_spearman(np.abs(trained.numpy()), np.abs(control.numpy()))


def infidelity(ctx: Context, x: torch.Tensor, attributions: torch.Tensor, target: torch.Tensor,
               lengths: torch.Tensor | None = None) -> float:
    """captum's infidelity (Yeh et al. 2019) under Gaussian noise, attributions rescaled optimally: how badly
    attribution . noise predicts the logit's change. Lower is better; comparable between methods here."""
    from captum.metrics import infidelity as captum_infidelity

    generator = ctx.generator(STREAM["infidelity"])

    def perturb(inputs):
        import torch

        noise = INFIDELITY_NOISE * torch.randn(inputs.shape, generator=generator)
        return noise, inputs - noise

    return float(captum_infidelity(ctx.model, perturb, x, attributions, target=target,
                                   additional_forward_args=None if lengths is None else (lengths,),
                                   n_perturb_samples=ctx.count(INFIDELITY_SAMPLES), normalize=True).mean())


def measure_attribution_quality(ctx: Context) -> Result:
    """Deletion curves against random orders, the sanity check and infidelity, for each method."""
    import torch

    from zoo.training import predict_batches

    test = ctx.data.test
    index = np.sort(ctx.rng(STREAM["quality"]).choice(len(test), min(len(test), ctx.count(QUALITY_SAMPLES)),
                                                      replace=False))
    x = torch.from_numpy(test.x[index])
    lengths = lengths_of(test, index=index)
    target = predict_batches(ctx.model, x, lengths=lengths).argmax(dim=-1)
    samples, seed, control = surrogate_samples(ctx), stream_seed(ctx, "surrogate"), ctx.untrained()
    features = x[0].numel()
    randoms = [deletion_curve(ctx.model, x, order, target, lengths=lengths)
               for order in random_orders(ctx.rng(STREAM["random-order"]), len(x), features, RANDOM_ORDERS)]
    random_curve = np.mean(randoms, axis=0)
    random_areas = np.mean([sample_areas(c) for c in randoms], axis=0)  # per sample, over the random orders
    curves, areas, other = {}, {}, {}
    for method in METHODS:
        found = attribute(method, ctx.model, x, target, seed, samples, lengths)
        curves[method] = deletion_curve(ctx.model, x, most_attributed_first(found), target, lengths=lengths)
        areas[method] = sample_areas(curves[method])
        spearman = sanity_spearman(found, attribute(method, control, x, target, seed, samples, lengths))
        other[method] = {"sanity_spearman": spearman, "sanity_passed": sanity_passed(spearman),
                         "infidelity": infidelity(ctx, x, found, target, lengths)}
    verdict = compare(areas, random_areas, ctx.rng(STREAM["bootstrap"]))
    per_method = {m: {**verdict["methods"][m], **other[m]} for m in METHODS}
    path = ctx.figure("deletion")
    _deletion_figure(curves, random_curve, path)
    rows = [[NAMES[m], round(v["deletion_auc"], 3), round(v["random_auc"], 3), round(v["difference"], 3),
             _interval(v["difference_interval"], "{:.3f}", "-"),
             None if v["sanity_spearman"] is None else round(v["sanity_spearman"], 3),
             {True: "yes", False: "no", None: "-"}[v["sanity_passed"]],
             float(f"{v['infidelity']:.3g}")] for m, v in per_method.items()]
    values = {"samples": len(x), "steps": DELETION_STEPS, "random_orders": RANDOM_ORDERS,
              "surrogate_samples": samples, "methods": per_method, "most_faithful": verdict["most_faithful"],
              "ranking": verdict["ranking"], "leader": verdict["leader"], "runner_up": verdict["runner_up"],
              "margin": verdict["margin"], "margin_interval": verdict["margin_interval"],
              "interval_level": LEVEL, "bootstrap_resamples": BOOTSTRAP_RESAMPLES,
              "min_interval_samples": MIN_INTERVAL_SAMPLES, "sanity_threshold": SANITY_THRESHOLD}
    return Result(
        summary=_quality_summary(values),
        values=values,
        tables=[Table(["method", "deletion AUC", "random AUC", "difference", f"difference {LEVEL:.0%} interval",
                       "sanity Spearman", "sanity passed", "infidelity"], rows,
                      f"On {plural(len(x), 'seeded test sample')}, toward the predicted class. Deletion AUC: area "
                      "under the predicted class's probability as the most-attributed inputs are set to zero first "
                      f"(lower is more faithful); random AUC: the same for {RANDOM_ORDERS} random orders; difference: "
                      f"random minus method (positive: better than random), with its paired bootstrap {LEVEL:.0%} "
                      "interval over the samples (the method beats random only when the interval lies above 0). "
                      "Sanity Spearman: rank correlation of |attribution| with the untrained network's (near 0: "
                      f"depends on training; near 1: on the input and architecture only); passed: below "
                      f"{SANITY_THRESHOLD:g}. Infidelity: captum's, normalised (lower is better).")],
        figures=[Figure(path.name, f"Deletion curves: the predicted class's mean softmax probability as each "
                                   f"method's most-attributed inputs are set to zero first, in {DELETION_STEPS} "
                                   f"steps, against random orders (dashed; mean of {RANDOM_ORDERS}). The faster "
                                   f"a curve falls, the more faithful the method.")],
        method=("Deletion curves (Petsiuk et al. 2018) against random orders, compared by a seeded paired "
                f"bootstrap over the samples ({BOOTSTRAP_RESAMPLES} resamples of the per-sample deletion areas, "
                f"{LEVEL:.0%} percentile intervals, none with fewer than {MIN_INTERVAL_SAMPLES} samples): a method "
                "beats random order when the interval of its difference to random lies above 0, and the method "
                "with the lowest area is named the most faithful only when it beats random and the interval of "
                "every other method's excess area over it lies above 0. Sanity check by model randomisation "
                "(Adebayo et al. 2018): the same architecture as built from the run's seed before training, "
                "Spearman correlation (scipy) of |attribution| per sample, averaged; a method passes when the "
                f"mean is below {SANITY_THRESHOLD:g} (this project's threshold; the paper sets none). "
                f"captum.metrics.infidelity (Yeh et al. 2019) with Gaussian noise of std {INFIDELITY_NOISE}."))


def _quality_summary(values: dict[str, Any]) -> str:
    """Which method was most faithful, with its intervals, or that no winner is clear; which methods beat random
    order and which did not; which pass the sanity check and which fail it, and what failing means."""
    per_method, best, leader = values["methods"], values["most_faithful"], values["leader"]
    samples, level = values["samples"], f"{values.get('interval_level', LEVEL):.0%}"
    parts = []
    if best is not None:
        v, runner = per_method[best], values["runner_up"]
        sentence = (f"{_title(NAMES[best])} was the most faithful: deleting its most-attributed inputs first leaves "
                    f"a deletion area of {v['deletion_auc']:.3f}, against {v['random_auc']:.3f} for random orders "
                    f"({v['difference']:.3f} lower, {level} interval {_interval(v['difference_interval'])})")
        if runner is not None:
            sentence += (f", and {values['margin']:.3f} below the runner-up, {NAMES[runner]} ({level} interval "
                         f"{_interval(values['margin_interval'])})")
        parts.append(f"{sentence}, over {plural(samples, 'test sample')}.")
    elif per_method[leader]["beats_random"] and values["runner_up"] is not None:
        tied = [leader] + [m for m in values["ranking"][1:]
                           if not above_zero(per_method[m].get("behind_leader_interval"))]
        areas = _listed([f"{per_method[m]['deletion_auc']:.3f}" for m in tied])
        runner = values["runner_up"]
        parts.append(f"No clear winner between {_listed([NAMES[m] for m in tied])}: deletion areas {areas} "
                     f"(random orders {per_method[leader]['random_auc']:.3f}); {_possessive(NAMES[leader])} margin "
                     f"over {NAMES[runner]}, {values['margin']:.3f}, has a {level} interval of "
                     f"{_interval(values['margin_interval'])} over {plural(samples, 'test sample')}, which does "
                     f"not exclude 0.")
    else:
        parts.append(f"No method clearly beat random order over {plural(samples, 'test sample')}, so none is "
                     f"named the most faithful.")
    beat = [f"{NAMES[m]} by {per_method[m]['difference']:.3f} ({_interval(per_method[m]['difference_interval'])})"
            for m in per_method if m != best and per_method[m]["beats_random"]]
    if beat:
        parts.append(f"{'Also better' if best is not None else 'Better'} than random order ({level} interval of "
                     f"the difference above 0): {_listed(beat)}.")
    for method, v in per_method.items():
        if v["beats_random"]:
            continue
        against = f"{v['deletion_auc']:.3f} against {v['random_auc']:.3f}"
        interval = v["difference_interval"]
        if interval is None:
            parts.append(f"{_title(NAMES[method])} cannot be said to beat random order ({against}; too few samples "
                         f"for an interval, at least {values.get('min_interval_samples', MIN_INTERVAL_SAMPLES)}).")
        elif interval[1] < 0:
            parts.append(f"{_title(NAMES[method])} did NOT beat random order: it did worse ({against}; "
                         f"{level} interval of the difference {_interval(interval)}).")
        else:
            parts.append(f"{_title(NAMES[method])} did NOT clearly beat random order ({against}; {level} interval "
                         f"of the difference {_interval(interval)} includes 0).")
    parts.append(_sanity_sentence(per_method, values.get("sanity_threshold", SANITY_THRESHOLD)))
    return " ".join(parts)


def _sanity_sentence(per_method: dict[str, dict[str, Any]], threshold: float) -> str:
    """The sanity check's verdict per method, failures named and explained."""
    passed = [f"{NAMES[m]} ({v['sanity_spearman']:.2f})" for m, v in per_method.items() if v["sanity_passed"]]
    failed = [f"{NAMES[m]} ({v['sanity_spearman']:.2f})" for m, v in per_method.items()
              if v["sanity_passed"] is False]
    undefined = [NAMES[m] for m, v in per_method.items() if v["sanity_passed"] is None]
    verdicts = []
    if passed:
        verdicts.append(f"{_listed(passed)} {'passes' if len(passed) == 1 else 'pass'}")
    if failed:
        one = len(failed) == 1
        its, it = ("its map looks", "it mostly reflects") if one else ("their maps look", "they mostly reflect")
        verdicts.append(f"{_listed(failed)} {'FAILS' if one else 'FAIL'}: {its} much the same with the learned "
                        f"weights replaced by untrained ones, so {it} the input and the architecture, not what the "
                        f"model learned (with the zero baseline, inputs already at zero, such as blank pixels, get no "
                        f"attribution in either network), and should not be read as an explanation of the trained "
                        f"model")
    if undefined:
        verdicts.append(f"{_listed(undefined)}: undefined (constant maps), not judged")
    return (f"Sanity check (mean rank correlation of |attribution| with the untrained network's; below {threshold:g} "
            f"passes): {'; '.join(verdicts)}.")


def _interval(interval: list[float] | None, number: str = "{:.3f}", missing: str = "none: too few samples") -> str:
    return missing if interval is None else f"{number.format(interval[0])} to {number.format(interval[1])}"


def _listed(items: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _possessive(name: str) -> str:
    """"LIME's", "integrated gradients'"."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _title(text: str) -> str:
    return f"{text[0].upper()}{text[1:]}"


def _deletion_figure(curves: dict[str, np.ndarray], random_curve: np.ndarray, path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.2), layout="constrained")
    removed = np.linspace(0, 1, random_curve.shape[1])
    for method, curve in curves.items():
        ax.plot(removed, curve.mean(axis=0), marker=".", label=NAMES[method])
    ax.plot(removed, random_curve.mean(axis=0), linestyle="--", color="gray", label="random order")
    ax.set_xlabel("fraction of inputs removed")
    ax.set_ylabel("predicted class probability")
    ax.set_ylim(0, 1.02)
    legend_outside(fig, "lower center", columns=2)
    save_png(fig, path)
