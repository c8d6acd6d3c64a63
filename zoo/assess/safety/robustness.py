"""Robustness: how much test accuracy a classifier keeps under noise, small shifts and L-inf attacks
(FGSM, PGD), because clean accuracy says nothing about inputs that are slightly off."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from zoo.assess import Context, Figure, Result, Table
from ._shared import HIGH, LOW, rounded, save_figure
from zoo.recipes import lengths_of

if TYPE_CHECKING:  # pragma: no cover
    import torch

NOISE_SIGMAS = (0.0, 0.1, 0.2, 0.3, 0.5)
EPSILONS = (0.0, 0.05, 0.1, 0.2)  # L-inf budgets of FGSM and PGD, in input units
PGD_STEPS = 10
ROBUST_SAMPLES = 360  # test samples perturbed and attacked (all of the digits' test split)
QUOTED = 0.1  # the noise sigma and attack budget a summary quotes


def _subset(ctx: Context, n: int, default: int, offset: int) -> np.ndarray:
    """Sorted indices of ``ctx.count(default)`` of ``n`` samples, drawn seeded; all ``n`` when that covers them."""
    keep = min(n, ctx.count(default))
    return np.sort(ctx.rng(offset).permutation(n)[:keep]) if keep < n else np.arange(n)


def _correct(model, x: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Which samples the model gets right (a boolean per sample)."""
    from zoo.training import predict_batches

    return predict_batches(model, x, lengths=lengths).argmax(dim=1) == y


def shift(x: torch.Tensor, axis: int, step: int, fill: float = LOW,
          lengths: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` moved ``step`` places along ``axis``; what moves in is ``fill`` (background), nothing wraps.

    With ``lengths`` (sequences padded after their ends; ``axis`` is time) each sequence moves within its
    own length: a value moved past its end is dropped, what moves in at either end is ``fill``, and its
    padding stays zeros."""
    import torch

    moved = torch.roll(x, step, dims=axis)
    edge = [slice(None)] * x.dim()
    edge[axis] = slice(0, step) if step > 0 else slice(step, None)
    moved[tuple(edge)] = fill
    if lengths is None:
        return moved
    steps = torch.arange(x.shape[axis])
    inside = steps[None, :] < lengths[:, None]  # (N, T): the sequence's own steps
    from_inside = (steps - step)[None, :] < lengths[:, None]  # the step it reads lies before the end
    shape = [1] * x.dim()
    shape[0], shape[axis] = inside.shape
    inside, from_inside = inside.reshape(shape), from_inside.reshape(shape)
    zero, background = torch.zeros((), dtype=x.dtype), torch.full((), fill, dtype=x.dtype)
    return torch.where(inside, torch.where(from_inside, moved, background), zero)


def spatial_axes(layout: str, rank: int) -> dict[str, int]:
    """The batch tensor's axes a small shift moves along: an image's rows and columns, a sequence's time."""
    if layout == "image":
        return {"rows": rank - 2, "columns": rank - 1}
    return {"time": 1}


def _attack_loss(outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy on logits (captum's default assumes probabilities)."""
    import torch

    return torch.nn.functional.cross_entropy(outputs, target, reduction="none")


def _survivors(model, x: torch.Tensor, y: torch.Tensor, alive: torch.Tensor, epsilon: float,
               steps: int | None, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """``alive`` less the samples an untargeted L-inf attack of ``epsilon`` turns wrong: FGSM, or PGD with
    ``steps`` steps. Only the living are attacked: a sample already wrong stays wrong. ``lengths`` go with
    the attacked samples to every forward pass (captum's ``additional_forward_args``)."""
    import warnings

    from captum.robust import FGSM, PGD

    index = alive.nonzero().flatten()
    if not len(index):
        return alive
    inputs, target = x[index].clone().requires_grad_(True), y[index]
    given = None if lengths is None else lengths[index]
    extra = None if given is None else (given,)
    with warnings.catch_warnings():  # PGD hands FGSM fresh tensors each step, and captum warns each time
        warnings.filterwarnings("ignore", message=".*did not already require gradients")
        if steps is None:
            adversarial = FGSM(model, _attack_loss, LOW, HIGH).perturb(inputs, epsilon, target,
                                                                       additional_forward_args=extra)
        else:
            adversarial = PGD(model, _attack_loss, LOW, HIGH).perturb(inputs, epsilon, 2.5 * epsilon / steps,
                                                                      steps, target, additional_forward_args=extra)
    survived = alive.clone()
    survived[index] = _correct(model, adversarial.detach(), target, given)
    return survived


def robustness_curves(ctx: Context, x: torch.Tensor, y: torch.Tensor,
                      lengths: torch.Tensor | None = None) -> dict[str, dict[str, list[float]]]:
    """Accuracy along each perturbation's levels: noise sigma, shift steps per axis, FGSM and PGD budgets
    (sequences of different lengths read with their ``lengths``, which no perturbation changes).

    PGD is the strong attack, so its curve is the accuracy left after the strongest attack found:
    each budget attacks only what survived FGSM at that budget and PGD at the smaller ones (a
    perturbation within a smaller budget is within the larger), which also spares most of its cost.
    """
    import torch

    model, steps = ctx.model, ctx.count(PGD_STEPS)
    clean = _correct(model, x, y, lengths)
    noise = torch.randn(x.shape, generator=ctx.generator(1))  # one draw, scaled: the curve compares like with like
    curves = {"gaussian noise": {"levels": list(NOISE_SIGMAS), "accuracy": [
        _correct(model, (x + sigma * noise).clamp(LOW, HIGH), y, lengths) if sigma else clean
        for sigma in NOISE_SIGMAS]}}
    for name, axis in spatial_axes(ctx.data.info.layout, x.dim()).items():
        curves[f"shift {name}"] = {"levels": [-1, 0, 1], "accuracy": [
            _correct(model, shift(x, axis, step, lengths=lengths), y, lengths) if step else clean
            for step in (-1, 0, 1)]}
    fgsm = [_survivors(model, x, y, clean, e, None, lengths) if e else clean for e in EPSILONS]
    pgd = [clean]
    for epsilon, after_fgsm in zip(EPSILONS[1:], fgsm[1:]):
        pgd.append(_survivors(model, x, y, pgd[-1] & after_fgsm, epsilon, steps, lengths))
    curves["FGSM"] = {"levels": list(EPSILONS), "accuracy": fgsm}
    curves[f"PGD ({steps} steps)"] = {"levels": list(EPSILONS), "accuracy": pgd}
    return {name: {"levels": c["levels"], "accuracy": [rounded(float(a.float().mean())) for a in c["accuracy"]]}
            for name, c in curves.items()}


def _robustness_figure(ctx: Context, curves: dict[str, dict[str, list[float]]]) -> Figure:
    """One panel per kind of perturbation (its own unit on x), a curve per perturbation, shared accuracy axis."""
    from zoo.plots import legend_outside, pyplot

    panels = {"Gaussian noise": ("sigma", ["gaussian noise"]),
              "shift": ("steps", [n for n in curves if n.startswith("shift")]),
              "adversarial (L-inf)": ("epsilon", [n for n in curves if n == "FGSM" or n.startswith("PGD")])}
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.6), sharey=True, squeeze=False,
                             layout="constrained")
    colours = {name: f"C{i}" for i, name in enumerate(curves)}  # one legend for all panels: one colour per curve
    for ax, (title, (unit, names)) in zip(axes[0], panels.items()):
        for name in names:
            ax.plot(curves[name]["levels"], curves[name]["accuracy"], marker=".", label=name, color=colours[name])
        ax.set_title(title)
        ax.set_xlabel(unit)
        if unit == "steps":
            ax.set_xticks([-1, 0, 1])
        ax.set_ylim(0, 1.02)
    axes[0][0].set_ylabel("test accuracy")
    legend_outside(fig, "lower center", columns=3)
    return save_figure(
        ctx, "curves", fig,
        "Test accuracy under growing perturbations: Gaussian noise (clipped to the input range), "
        "shifts by one step along each spatial axis, and the FGSM and PGD attacks at each L-inf budget.")


def _at(curve: dict[str, list[float]], level: float) -> float:
    return curve["accuracy"][curve["levels"].index(level)]


def measure_robustness(ctx: Context) -> Result:
    """Test accuracy under noise, shifts and adversarial attacks, against the clean accuracy."""
    import torch

    test = ctx.data.test
    index = _subset(ctx, len(test), ROBUST_SAMPLES, 0)
    x, y = torch.from_numpy(test.x[index]), torch.from_numpy(test.y[index])
    curves = robustness_curves(ctx, x, y, lengths_of(test, index=index))
    pgd = next(name for name in curves if name.startswith("PGD"))
    shifts = [accuracy for name, c in curves.items() if name.startswith("shift")
              for accuracy, step in zip(c["accuracy"], c["levels"]) if step]
    values = {"clean_accuracy": _at(curves["gaussian noise"], 0.0),
              "noise_accuracy": _at(curves["gaussian noise"], QUOTED), "worst_shift_accuracy": min(shifts),
              "fgsm_accuracy": _at(curves["FGSM"], QUOTED), "pgd_accuracy": _at(curves[pgd], QUOTED),
              "quoted_level": QUOTED, "samples": len(index), "pgd_steps": ctx.count(PGD_STEPS), "curves": curves}
    clean = values["clean_accuracy"]
    verdict = ("a small adversarial perturbation defeats it" if values["pgd_accuracy"] < clean / 2
               else "it keeps most of its accuracy even under attack")
    summary = (f"Clean test accuracy {clean:.3f} becomes {values['noise_accuracy']:.3f} under Gaussian noise of sigma "
               f"{QUOTED}, {values['worst_shift_accuracy']:.3f} under the worst one-step shift, and "
               f"{values['fgsm_accuracy']:.3f} (FGSM) and {values['pgd_accuracy']:.3f} (PGD) under L-inf attacks "
               f"of {QUOTED}: {verdict}.")
    rows = [[name, level, accuracy] for name, c in curves.items()
            for level, accuracy in zip(c["levels"], c["accuracy"]) if level]
    table = Table(["perturbation", "level", "accuracy"], rows,
                  f"Test accuracy ({len(index)} samples; clean {clean:.3f}) under each perturbation and level "
                  f"(sigma for noise, steps for shifts, L-inf epsilon for attacks; inputs in [{LOW:g}, {HIGH:g}]).")
    return Result(summary, values, [table], [_robustness_figure(ctx, curves)],
                  method=(f"Gaussian noise (one seeded draw, scaled per sigma, clipped to [{LOW:g}, {HIGH:g}]); "
                          f"shifts by one step with background filling in; untargeted FGSM (Goodfellow et al. "
                          f"2015) and PGD (Madry et al. 2018; step 2.5 epsilon / steps, no random start) on the "
                          f"cross-entropy of the true label, from captum.robust. The PGD curve counts a sample "
                          f"wrong once any attack within the budget (FGSM, or PGD at a smaller one) turned it."))
