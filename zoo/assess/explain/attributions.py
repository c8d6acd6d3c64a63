"""Attributions of a classifier's logits by three methods (integrated gradients, KernelSHAP, LIME), shown per
class: several methods, because where they disagree no single map should be trusted."""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from zoo.assess import Context, Figure, Result, Table
from ._shared import STREAM, mean_spearman, plural, stream_seed
from zoo.plots import MAX_WIDTH_IN, TILE_IN, picture, pyplot, save_png, show_picture, strip
from zoo.recipes import lengths_of

if TYPE_CHECKING:  # pragma: no cover
    import torch

METHODS = ("integrated-gradients", "kernel-shap", "lime")
NAMES = {"integrated-gradients": "integrated gradients", "kernel-shap": "KernelSHAP", "lime": "LIME"}
PER_CLASS = 2  # test samples per class in the attribution figure
IG_STEPS = 32  # integrated-gradients steps along the path from the zero baseline
SURROGATE_SAMPLES = 128  # perturbations per input for KernelSHAP and LIME: twice the 64 features of a digit
LIME_RIDGE = 1.0  # LIME's surrogate as in Ribeiro et al.'s package: ridge regression, alpha 1 (captum's default
# lasso, alpha 0.01, zeroes every weight when the output barely moves, as an untrained network's does)


def attribute(method: str, model, x: torch.Tensor, target: torch.Tensor, seed: int, samples: int,
              lengths: torch.Tensor | None = None) -> torch.Tensor:
    """``method``'s attributions of ``target``'s logit for ``x`` (shaped like ``x``), zero baseline.

    KernelSHAP and LIME sample perturbations from torch's global generator: the draw is forked and
    seeded here, so the result is a function of ``seed`` and the caller's random state is untouched.
    ``lengths`` (sequences of different lengths) go to every call of the model beside the perturbed
    inputs (captum's ``additional_forward_args``): a perturbation changes values, never a length.
    """
    import torch
    from captum._utils.models.linear_model import SkLearnRidge
    from captum.attr import IntegratedGradients, KernelShap, Lime

    baselines = torch.zeros_like(x)
    extra = None if lengths is None else (lengths,)
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        torch.manual_seed(seed)
        warnings.filterwarnings("ignore", message=".*multiple inputs for Lime.*")  # one surrogate per sample: meant
        if method == "integrated-gradients":
            found = IntegratedGradients(model).attribute(x, baselines=baselines, target=target, n_steps=IG_STEPS,
                                                         additional_forward_args=extra)
        elif method in ("kernel-shap", "lime"):
            explainer = (KernelShap(model) if method == "kernel-shap"
                         else Lime(model, interpretable_model=SkLearnRidge(alpha=LIME_RIDGE)))
            found = explainer.attribute(x, baselines=baselines, target=target, n_samples=samples,
                                        perturbations_per_eval=samples, additional_forward_args=extra)
        else:
            raise ValueError(f"unknown attribution method {method!r}; known: {', '.join(METHODS)}")
    return found.detach()


def surrogate_samples(ctx: Context) -> int:
    return ctx.count(SURROGATE_SAMPLES, minimum=8)


def _per_class_sample(ctx: Context, per_class: int) -> np.ndarray:
    """Seeded test indices, up to ``per_class`` of each class, sorted by class."""
    test, rng = ctx.data.test, ctx.rng(STREAM["figure"])
    chosen = []
    for label in range(ctx.data.info.num_classes):
        members = np.flatnonzero(test.y == label)
        if len(members):
            chosen.append(np.sort(rng.choice(members, min(per_class, len(members)), replace=False)))
    return np.concatenate(chosen)


def _method_agreement(maps: dict[str, np.ndarray]) -> dict[str, float | None]:
    """Mean Spearman correlation between each pair of methods' signed attributions, sample by sample."""
    return {f"{a}~{b}": mean_spearman(maps[a], maps[b])
            for i, a in enumerate(maps) for b in list(maps)[i + 1:]}


def measure_attributions(ctx: Context) -> Result:
    """Each method's mean attribution per class, as one figure; how far the methods agree, as numbers."""
    import torch

    per_class = ctx.count(PER_CLASS)
    index = _per_class_sample(ctx, per_class)
    x = torch.from_numpy(ctx.data.test.x[index])
    lengths = lengths_of(ctx.data.test, index=index)
    labels = ctx.data.test.y[index]
    samples = surrogate_samples(ctx)
    maps = {m: attribute(m, ctx.model, x, torch.from_numpy(labels).long(), stream_seed(ctx, "surrogate"),
                         samples, lengths).numpy()
            for m in METHODS}
    path = ctx.figure("per-class")
    _attribution_figure(x.numpy(), labels, maps, path, sequence=ctx.data.info.layout == "sequence")
    agreement = _method_agreement(maps)
    pair = lambda key: " and ".join(NAMES[m] for m in key.split("~"))  # noqa: E731
    grid = "time step x feature" if ctx.data.info.layout == "sequence" else "pixel"
    summary = (f"Attributions of each class's logit per {grid}, over {plural(len(index), 'test sample')} "
               f"({per_class} per class).")
    defined = {k: v for k, v in agreement.items() if v is not None}
    if defined:
        best, worst = max(defined, key=defined.get), min(defined, key=defined.get)
        summary += (f" The methods agree most between {pair(best)} (Spearman {defined[best]:.2f}) and least "
                    f"between {pair(worst)} ({defined[worst]:.2f}).")
    rows = [[pair(k), None if v is None else round(v, 3)] for k, v in agreement.items()]
    return Result(
        summary=summary,
        values={"methods": list(METHODS), "samples": len(index), "per_class": per_class,
                "surrogate_samples": samples, "ig_steps": IG_STEPS, "agreement": agreement},
        tables=[Table(["methods", "mean Spearman correlation"], rows,
                      "How far the methods rank the same inputs alike, per sample (1: the same order).")],
        figures=[Figure(path.name, _attribution_caption(grid, per_class, samples))],
        method=("captum: IntegratedGradients (Sundararajan et al. 2017), KernelShap (Lundberg and Lee 2017) and "
                f"Lime (Ribeiro et al. 2016; ridge surrogate, alpha {LIME_RIDGE}), every input element one feature, "
                "zero baseline; agreement by scipy.stats.spearmanr."))


def _attribution_caption(grid: str, per_class: int, samples: int) -> str:
    return (f"Per class (columns): the mean test input, then the mean attribution of the class's logit by "
            f"integrated gradients ({IG_STEPS} steps), KernelSHAP and LIME ({samples} perturbations each) over "
            f"{per_class} test samples of the class, per {grid}. Each method's row is scaled to its own largest "
            f"value; red raises the logit, blue lowers it.")


def _attribution_figure(x: np.ndarray, labels: np.ndarray, maps: dict[str, np.ndarray], path, sequence: bool) -> None:
    """Rows: mean input, then each method; columns: classes. A method's row shares one colour scale."""
    classes = sorted(set(labels.tolist()))
    rows = [("time" if sequence else "input", strip([picture(x[labels == c].mean(axis=0)) for c in classes]))]
    for method, attributions in maps.items():
        means = [picture(attributions[labels == c].mean(axis=0)) for c in classes]
        limit = float(max(np.abs(m).max() for m in means)) or 1.0
        rows.append((NAMES[method].replace(" ", "\n"), strip([m / limit for m in means])))
    plt = pyplot()
    tile = min(TILE_IN, (MAX_WIDTH_IN - 3.0) / len(classes))
    fig, axes = plt.subplots(len(rows), 1, figsize=(tile * len(classes) + 3.0, tile * len(rows) + 0.5),
                             squeeze=False, layout="constrained")
    width = rows[0][1].shape[1] / len(classes)
    for row, (name, image) in enumerate(rows):
        ax = axes[row][0]
        drawn = show_picture(ax, image, **({"cmap": "gray_r", "vmin": 0, "vmax": 1} if row == 0 else
                                          {"cmap": "bwr", "vmin": -1, "vmax": 1}))
        ax.set_ylabel(name.replace("\n", " "), rotation=0, ha="right", va="center")
    axes[0][0].set_xticks([width * (i + 0.5) - 0.5 for i in range(len(classes))], [str(c) for c in classes])
    axes[0][0].xaxis.tick_top()
    fig.colorbar(drawn, ax=axes[:, 0].tolist(), shrink=0.8, label="share of row max")
    save_png(fig, path)
