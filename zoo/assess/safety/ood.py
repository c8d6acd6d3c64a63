"""Out-of-distribution detection: whether a model's own score (maximum softmax probability, reconstruction
error) tells its data from inputs it was never meant to see, here seeded uniform noise and photo patches."""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

import numpy as np

from zoo.assess import Context, Figure, Result, Table
from ._shared import HIGH, LOW, histograms, predict, reconstruction_errors, rounded, save_figure
from .calibration import softmax
from zoo.metrics import separation

OOD_SAMPLES = 360  # inputs per out-of-distribution set (the digits' test split is 360)
PATCH_SCALE = 4  # natural-image crops are this many times the sample's size, block-averaged down
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 grayscale weights
MIN_ERRORS = 10  # below this many test errors the misclassification AUROC is called uncertain: each error moves it
# by up to 1/errors, and a handful of errors cannot say how the model ranks its mistakes in general
OUTSIDE_SETS = ("Outside sets: seeded uniform noise, and seeded grayscale crops of scikit-learn's two sample "
                f"photographs (load_sample_images), {PATCH_SCALE}x the sample size block-averaged down, in "
                f"[{LOW:g}, {HIGH:g}].")


def uniform_noise(ctx: Context, count: int) -> np.ndarray:
    """``count`` inputs of uniform noise over the input range, the sample shape of the data."""
    import torch

    shape = (count, *ctx.data.info.sample_shape)
    return (LOW + (HIGH - LOW) * torch.rand(shape, generator=ctx.generator(2))).numpy()


@lru_cache(maxsize=1)
def _photographs() -> tuple[np.ndarray, ...]:
    """scikit-learn's two bundled photographs in grayscale, in [0, 1] (shipped with it: no download)."""
    from sklearn.datasets import load_sample_images

    return tuple(image.astype(np.float64) @ LUMA / 255.0 for image in load_sample_images().images)


def natural_patches(sample_shape: tuple[int, ...], count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random crops of the photographs, block-averaged down to the sample's last two axes.

    An image (C, H, W) gets the gray patch in every channel; a sequence (T, F) is the patch itself,
    read as time x feature as the digit sequences are read.
    """
    height, width = sample_shape[-2:]
    photos = _photographs()
    scale = max(1, min(PATCH_SCALE, *(min(p.shape[0] // height, p.shape[1] // width) for p in photos)))
    patches = np.empty((count, height, width))
    for i in range(count):
        photo = photos[int(rng.integers(len(photos)))]
        top = int(rng.integers(photo.shape[0] - height * scale + 1))
        left = int(rng.integers(photo.shape[1] - width * scale + 1))
        crop = photo[top:top + height * scale, left:left + width * scale]
        patches[i] = crop.reshape(height, scale, width, scale).mean(axis=(1, 3))
    patches = LOW + (HIGH - LOW) * patches
    return np.broadcast_to(patches.reshape(count, *([1] * (len(sample_shape) - 2)), height, width),
                           (count, *sample_shape)).astype(np.float32)


def outside_sets(ctx: Context) -> dict[str, np.ndarray]:
    """The inputs that are not the data: uniform noise and natural-image patches, ``ctx.count`` of each."""
    count = ctx.count(OOD_SAMPLES)
    return {"uniform noise": uniform_noise(ctx, count),
            "natural-image patches": natural_patches(tuple(ctx.data.info.sample_shape), count, ctx.rng(3))}


def outside_lengths(ctx: Context, count: int) -> np.ndarray | None:
    """For sequences of different lengths, the lengths the outside inputs are read with: drawn (seeded) from
    the test split's, so that a length alone tells nothing; None when the sequences share one length."""
    lengths = ctx.data.test.lengths
    return None if lengths is None else ctx.rng(4).choice(lengths, count)


def padded_after(x: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """Sequences ``x`` (N, T, F) zeroed after each one's length, as the data's padding is (as given without)."""
    if lengths is None:
        return x
    return np.where(np.arange(x.shape[1])[None, :, None] < lengths[:, None, None], x, 0).astype(x.dtype)


def _strip(samples: np.ndarray) -> np.ndarray:
    """Samples side by side as one picture, a background column between them."""
    from zoo.plots import picture, strip

    return strip([picture(sample) for sample in samples], gap=LOW)


def _ood_figure(ctx: Context, scores: dict[str, np.ndarray], inputs: dict[str, np.ndarray], xlabel: str,
                log: bool, caption: str) -> Figure:
    """Score histograms per set, above a few inputs of each set so the reader sees what was scored."""
    from zoo.plots import MAX_WIDTH_IN, pyplot, show_picture

    plt = pyplot()
    fig = plt.figure(figsize=(min(3.0 * len(inputs) + 2.0, MAX_WIDTH_IN), 4.4), layout="constrained")
    grid = fig.add_gridspec(2, len(inputs), height_ratios=[3, 1])
    histograms(fig.add_subplot(grid[0, :]), scores, xlabel, log)
    for column, (name, x) in enumerate(inputs.items()):
        ax = fig.add_subplot(grid[1, column])
        show_picture(ax, _strip(x[:4]), cmap="gray_r", vmin=LOW, vmax=HIGH)
        ax.set_title(name)
    return save_figure(ctx, "scores", fig, caption)


def _ood_result(ctx: Context, score: Callable[[np.ndarray, np.ndarray | None], np.ndarray], name: str,
                higher_inside: bool, extra: dict[str, Any], log: bool, test_scores: np.ndarray | None = None) -> Result:
    """AUROC of ``score`` (per input, given the inputs and their lengths) for test inputs against each outside
    set; shared by every task. ``test_scores``: the test inputs' scores when the caller has computed them
    already."""
    test = ctx.data.test.x
    sets = outside_sets(ctx)
    lengths = outside_lengths(ctx, len(next(iter(sets.values()))))
    sets = {label: padded_after(x, lengths) for label, x in sets.items()}
    raw = {"test split": score(test, ctx.data.test.lengths) if test_scores is None else test_scores,
           **{label: score(x, lengths) for label, x in sets.items()}}
    sign = 1.0 if higher_inside else -1.0
    auroc = {label: separation(sign * raw["test split"], sign * raw[label]) for label in sets}
    values = {"auroc_uniform_noise": rounded(auroc["uniform noise"]),
              "auroc_natural_patches": rounded(auroc["natural-image patches"]),
              **extra, "score": name, "samples": len(test), "outside_samples": len(sets["uniform noise"]),
              "mean_score": {label: rounded(float(np.mean(v))) for label, v in raw.items()}}
    rows = [[label, len(raw[label]), values["mean_score"][label],
             rounded(auroc[label]) if label in auroc else "-"] for label in raw]
    table = Table(["inputs", "count", f"mean {name}", "AUROC vs test"], rows,
                  f"The {name} of test inputs and of inputs that are not the data; AUROC: how often a test input "
                  f"scores as more in-distribution than an outside one (1 perfect, 0.5 chance).")
    figure = _ood_figure(ctx, raw, {"test": test, **sets}, name, log,
                         f"Histograms of the {name} of test inputs, uniform noise and natural-image patches (below: "
                         f"the first inputs of each set); the less the histograms overlap, the better the score "
                         f"tells the data from what it is not.")
    return Result("", values, [table], [figure])


def _quality(auroc: float | None) -> str:
    if auroc is None:
        return "cannot be measured"
    return ("near perfect" if auroc >= 0.99 else "good" if auroc >= 0.9 else "fair" if auroc >= 0.75
            else "weak" if auroc >= 0.6 else "no better than chance")


def _misclassification(auroc: float | None, errors: int, predictions: int) -> str:
    """The misclassification AUROC with the number of errors it rests on; uncertain below ``MIN_ERRORS``."""
    if auroc is None:
        return (f"misclassification detection is undefined ({errors} errors in {predictions} test predictions: "
                f"no errors, or no correct predictions, to rank)")
    said = (f"it ranks correct above wrong test predictions with AUROC {auroc:.3f}, which rests on "
            f"{errors} {'error' if errors == 1 else 'errors'} in {predictions} test predictions")
    if errors < MIN_ERRORS:
        return f"{said}: with so few errors (under {MIN_ERRORS}) the number is uncertain"
    return f"{said} ({_quality(auroc)})"


def measure_ood_classifier(ctx: Context) -> Result:
    """Maximum softmax probability as an out-of-distribution and misclassification detector."""
    test = ctx.data.test
    probs = softmax(predict(ctx.model, test.x, test.lengths))
    correct, confidence = probs.argmax(axis=1) == test.y, probs.max(axis=1)
    misclassified = (rounded(separation(confidence[correct], confidence[~correct]))
                     if 0 < correct.sum() < len(correct) else None)
    result = _ood_result(ctx, lambda x, lengths: softmax(predict(ctx.model, x, lengths)).max(axis=1),
                         "maximum softmax probability",
                         True, {"auroc_misclassification": misclassified, "errors": int((~correct).sum())}, False,
                         test_scores=confidence)
    v = result.values
    v["misclassification_min_errors"] = MIN_ERRORS
    v["misclassification_reliable"] = misclassified is not None and v["errors"] >= MIN_ERRORS
    result.summary = (f"The maximum softmax probability separates the {ctx.data.info.name} test split from uniform "
                      f"noise with AUROC "
                      f"{v['auroc_uniform_noise']:.3f} ({_quality(v['auroc_uniform_noise'])}) and from natural-image "
                      f"patches with {v['auroc_natural_patches']:.3f} ({_quality(v['auroc_natural_patches'])}); "
                      f"{_misclassification(misclassified, v['errors'], len(correct))}. 0.5 is chance: a low value "
                      f"means the model is confident on inputs it should reject.")
    result.method = ("Maximum softmax probability baseline (Hendrycks and Gimpel 2017, 'A Baseline for Detecting "
                     "Misclassified and Out-of-Distribution Examples'); AUROC by scikit-learn's roc_auc_score. The "
                     f"misclassification AUROC rests on the test errors alone: with fewer than {MIN_ERRORS} it is "
                     f"called uncertain. {OUTSIDE_SETS}")
    return result


def measure_ood_reconstruction(ctx: Context) -> Result:
    """Reconstruction error as an out-of-distribution score: the data should reconstruct best."""
    result = _ood_result(ctx, lambda x, _lengths: reconstruction_errors(ctx.model, x), "reconstruction error", False,
                         {}, True)
    v = result.values
    result.summary = (f"The reconstruction error separates test inputs from uniform noise with AUROC "
                      f"{v['auroc_uniform_noise']:.3f} ({_quality(v['auroc_uniform_noise'])}) and from natural-image "
                      f"patches with {v['auroc_natural_patches']:.3f} ({_quality(v['auroc_natural_patches'])}); "
                      f"0.5 is chance: a low value means the model reconstructs what it was never trained on as well "
                      f"as its data, and its error cannot flag foreign inputs.")
    result.method = ("Per-sample mean squared reconstruction error as the score (higher = more foreign); AUROC by "
                     f"scikit-learn's roc_auc_score. {OUTSIDE_SETS}")
    return result
