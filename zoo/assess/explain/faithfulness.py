"""Whether an attribution can be trusted: deletion curves against random orders (faithful to the model?),
the model-randomisation sanity check (about what was learned?) and infidelity, for each method."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.assess import Context, Figure, Result, Table
from zoo.assess.explain._shared import STREAM, mean_spearman, plural, single_threaded, stream_seed
from zoo.assess.explain.attributions import METHODS, NAMES, attribute, surrogate_samples
from zoo.cards.figures import pyplot, save_png

if TYPE_CHECKING:  # pragma: no cover
    import torch

QUALITY_SAMPLES = 20  # test samples the deletion curves and the sanity check are measured on
DELETION_STEPS = 10
RANDOM_ORDERS = 3
INFIDELITY_SAMPLES = 10
INFIDELITY_NOISE = 0.1  # std of the Gaussian perturbations infidelity is measured under (inputs in [0, 1])


def deletion_curve(model, x: torch.Tensor, order: np.ndarray, target: torch.Tensor,
                   steps: int = DELETION_STEPS) -> np.ndarray:
    """The target class's softmax probability as features are set to the zero baseline in ``order``.

    ``order`` (samples x features, flattened) lists each sample's features, first removed first.
    Returns samples x (steps + 1): column k after removing k/steps of the features. A faithful
    attribution, removing the most-attributed first, makes the probability fall early.
    """
    import torch

    from zoo.training import predict_batches

    n, features = len(x), x[0].numel()
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(features)[None, :].repeat(n, axis=0), axis=1)
    removed = np.round(np.linspace(0, features, steps + 1)).astype(int)
    keep = torch.from_numpy(rank[:, None, :] >= removed[None, :, None])  # n x (steps + 1) x features
    batch = torch.where(keep, x.reshape(n, 1, features), torch.zeros(()))
    logits = predict_batches(model, batch.reshape(n * (steps + 1), *x.shape[1:]).contiguous())
    probabilities = torch.softmax(logits, dim=-1).reshape(n, steps + 1, -1)
    chosen = probabilities.gather(2, target.reshape(n, 1, 1).expand(n, steps + 1, 1))
    return chosen[..., 0].numpy()


def curve_area(curves: np.ndarray) -> float:
    """Mean area under the deletion curves over the removed fraction in [0, 1]: lower is more faithful."""
    heights = (curves[:, 1:] + curves[:, :-1]) / 2
    return float((heights.sum(axis=1) / (curves.shape[1] - 1)).mean())


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


def untrained(ctx: Context):
    """The same network before training: built from the run's seed, as training began, in eval mode.

    ``zoo.api.build`` seeds torch's global generator; it runs inside ``fork_rng`` so the caller's
    random state is left as it was."""
    import torch

    from zoo.api import build

    with torch.random.fork_rng(devices=[]):
        model = build(ctx.spec, {**ctx.config, "seed": ctx.seed}, ctx.data.info)
    return model.eval()


def infidelity(ctx: Context, x: torch.Tensor, attributions: torch.Tensor, target: torch.Tensor) -> float:
    """captum's infidelity (Yeh et al. 2019) under Gaussian noise, attributions rescaled optimally: how badly
    attribution . noise predicts the logit's change. Lower is better; comparable between methods here."""
    from captum.metrics import infidelity as captum_infidelity

    generator = ctx.generator(STREAM["infidelity"])

    def perturb(inputs):
        import torch

        noise = INFIDELITY_NOISE * torch.randn(inputs.shape, generator=generator)
        return noise, inputs - noise

    return float(captum_infidelity(ctx.model, perturb, x, attributions, target=target,
                                   n_perturb_samples=ctx.count(INFIDELITY_SAMPLES), normalize=True).mean())


@single_threaded
def measure_attribution_quality(ctx: Context) -> Result:
    """Deletion curves against random orders, the sanity check and infidelity, for each method."""
    import torch

    from zoo.training import predict_batches

    test = ctx.data.test
    index = np.sort(ctx.rng(STREAM["quality"]).choice(len(test), min(len(test), ctx.count(QUALITY_SAMPLES)),
                                                      replace=False))
    x = torch.from_numpy(test.x[index])
    target = predict_batches(ctx.model, x).argmax(dim=-1)
    samples, seed, control = surrogate_samples(ctx), stream_seed(ctx, "surrogate"), untrained(ctx)
    features = x[0].numel()
    randoms = [deletion_curve(ctx.model, x, order, target)
               for order in random_orders(ctx.rng(STREAM["random-order"]), len(x), features, RANDOM_ORDERS)]
    random_curve = np.mean(randoms, axis=0)
    random_auc = float(np.mean([curve_area(c) for c in randoms]))
    per_method, curves = {}, {}
    for method in METHODS:
        found = attribute(method, ctx.model, x, target, seed, samples)
        curves[method] = deletion_curve(ctx.model, x, most_attributed_first(found), target)
        area = curve_area(curves[method])
        per_method[method] = {
            "deletion_auc": area, "random_auc": random_auc, "difference": random_auc - area,
            "beats_random": bool(area < random_auc),
            "sanity_spearman": sanity_spearman(found, attribute(method, control, x, target, seed, samples)),
            "infidelity": infidelity(ctx, x, found, target),
        }
    best = min(METHODS, key=lambda m: per_method[m]["deletion_auc"])
    most_faithful = best if per_method[best]["beats_random"] else None
    path = ctx.figure("deletion")
    _deletion_figure(curves, random_curve, path)
    rows = [[NAMES[m], round(v["deletion_auc"], 3), round(v["random_auc"], 3), round(v["difference"], 3),
             None if v["sanity_spearman"] is None else round(v["sanity_spearman"], 3),
             float(f"{v['infidelity']:.3g}")] for m, v in per_method.items()]
    return Result(
        summary=_quality_summary(per_method, most_faithful),
        values={"samples": len(x), "steps": DELETION_STEPS, "random_orders": RANDOM_ORDERS,
                "surrogate_samples": samples, "methods": per_method, "most_faithful": most_faithful},
        tables=[Table(["method", "deletion AUC", "random AUC", "difference", "sanity Spearman", "infidelity"], rows,
                      f"On {plural(len(x), 'seeded test sample')}, toward the predicted class. Deletion AUC: area "
                      "under the predicted class's probability as the most-attributed inputs are set to zero first "
                      f"(lower is more faithful); random AUC: the same for {RANDOM_ORDERS} random orders; difference: "
                      "random minus method (positive: better than random). Sanity Spearman: rank correlation of "
                      "|attribution| with the untrained network's (near 0: depends on training; near 1: on the "
                      "architecture only). Infidelity: captum's, normalised (lower is better).")],
        figures=[Figure(path.name, f"Deletion curves: the predicted class's mean softmax probability as each "
                                   f"method's most-attributed inputs are set to zero first, in {DELETION_STEPS} "
                                   f"steps, against random orders (dashed; mean of {RANDOM_ORDERS}). The faster "
                                   f"a curve falls, the more faithful the method.")],
        method=("Deletion curves (Petsiuk et al. 2018) against random orders; sanity check by model "
                "randomisation (Adebayo et al. 2018): the same architecture as built from the run's seed before "
                "training, Spearman correlation (scipy) of |attribution| per sample, averaged; "
                f"captum.metrics.infidelity (Yeh et al. 2019) with Gaussian noise of std {INFIDELITY_NOISE}."))


def _quality_summary(per_method: dict[str, dict[str, Any]], most_faithful: str | None) -> str:
    """Which method was most faithful and by how much; which did not beat random; each sanity correlation."""
    parts = []
    if most_faithful is not None:
        best = per_method[most_faithful]
        name = NAMES[most_faithful]
        parts.append(f"{name[0].upper()}{name[1:]} was the most faithful: deleting its most-attributed "
                     f"inputs first leaves a deletion area of {best['deletion_auc']:.2f}, against "
                     f"{best['random_auc']:.2f} for random orders ({best['difference']:.2f} lower).")
    others = [m for m in per_method if m != most_faithful]
    beat = [f"{NAMES[m]} by {per_method[m]['difference']:.2f}" for m in others if per_method[m]["beats_random"]]
    if beat:
        parts.append(f"Also better than random: {', '.join(beat)}.")
    for method in others:
        if not per_method[method]["beats_random"]:
            value = per_method[method]
            parts.append(f"{NAMES[method]} did NOT beat random order ({value['deletion_auc']:.2f} against "
                         f"{value['random_auc']:.2f}).")
    sanity = ", ".join(f"{NAMES[m]} {_number(v['sanity_spearman'])}" for m, v in per_method.items())
    parts.append(f"Sanity check, rank correlation with the untrained network's attributions (near 0 passes; near 1, "
                 f"the map would look the same without training): {sanity}.")
    return " ".join(parts)


def _number(value: float | None, digits: int = 2) -> str:
    return "undefined (constant maps)" if value is None else f"{value:.{digits}f}"


def _deletion_figure(curves: dict[str, np.ndarray], random_curve: np.ndarray, path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(3.6, 2.6))
    removed = np.linspace(0, 1, random_curve.shape[1])
    for method, curve in curves.items():
        ax.plot(removed, curve.mean(axis=0), marker=".", label=NAMES[method])
    ax.plot(removed, random_curve.mean(axis=0), linestyle="--", color="gray", label="random order")
    ax.set_xlabel("fraction of inputs removed", fontsize=8)
    ax.set_ylabel("predicted class probability", fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    save_png(fig, path)
