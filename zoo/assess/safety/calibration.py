"""Calibration: whether a classifier's confidence can be read as a probability, and the temperature that
makes it so (Guo et al. 2017), fitted on validation so that the test numbers stay honest."""
from __future__ import annotations

import math

import numpy as np

from zoo.assess import Context, Figure, Result, Table
from ._shared import predict, rounded, save_figure

BINS = 15  # equal-width confidence bins of the ECE (Guo et al. 2017)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities of ``logits / temperature``."""
    from scipy.special import softmax as _softmax

    return _softmax(np.asarray(logits, np.float64) / temperature, axis=1)


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> dict[str, np.ndarray]:
    """Per equal-width confidence bin (lower edge open): sample count, mean confidence, accuracy.

    The top-class confidence is what a deployer reads off the model, so that is what is binned.
    """
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins).astype(np.float64)
    safe = np.where(counts > 0, counts, 1.0)
    return {"edges": edges, "counts": counts,
            "confidence": np.bincount(index, confidence, minlength=bins) / safe,
            "accuracy": np.bincount(index, correct, minlength=bins) / safe}


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """ECE: the sample-weighted mean gap between accuracy and confidence over the bins (0 = calibrated)."""
    table = reliability(np.asarray(probs, np.float64), np.asarray(labels), bins)
    weights = table["counts"] / table["counts"].sum()
    return float(np.sum(weights * np.abs(table["accuracy"] - table["confidence"])))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the labels (scikit-learn's ``log_loss``) at ``temperature``."""
    from sklearn.metrics import log_loss

    return float(log_loss(labels, softmax(logits, temperature), labels=list(range(logits.shape[1]))))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising NLL on (validation) logits (Guo et al. 2017), searched over log T.

    One parameter cannot change which class wins, so accuracy is untouched; only confidence moves.
    """
    from scipy.optimize import minimize_scalar

    found = minimize_scalar(lambda log_t: nll(logits, labels, math.exp(log_t)), bounds=(math.log(0.05), math.log(20)),
                            method="bounded", options={"xatol": 1e-5})
    return float(math.exp(found.x))


def _reliability_figure(ctx: Context, panels: dict[str, np.ndarray], labels: np.ndarray) -> Figure:
    """Accuracy per confidence bin beside the diagonal, before and after temperature scaling."""
    from zoo.plots import legend_outside, pyplot

    plt = pyplot()
    fig, axes = plt.subplots(2, len(panels), figsize=(4.0 * len(panels), 5.4), squeeze=False, sharex=True,
                             height_ratios=[3, 1], layout="constrained")
    for column, (title, probs) in enumerate(panels.items()):
        ax, below = axes[0][column], axes[1][column]
        table = reliability(probs, labels)
        width = 1.0 / BINS
        shown = table["counts"] > 0
        ax.bar(table["edges"][:-1][shown], table["accuracy"][shown], width=width, align="edge",
               edgecolor="black", linewidth=0.4, label="accuracy")
        ax.bar(table["edges"][:-1][shown], (table["confidence"] - table["accuracy"])[shown], width=width,
               bottom=table["accuracy"][shown], align="edge", color="none", edgecolor="red", hatch="///",
               linewidth=0.4, label="gap to confidence")
        ax.plot([0, 1], [0, 1], "k--", linewidth=0.8, label="calibrated")
        ax.set_title(f"{title}: ECE {expected_calibration_error(probs, labels):.3f}")
        ax.set_ylabel("accuracy")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        below.bar(table["edges"][:-1][shown], table["counts"][shown], width=width, align="edge", color="gray")
        below.set_yscale("log")
        below.set_xlabel("confidence")
        below.set_ylabel("samples")
    legend_outside(fig, "lower center", columns=3)
    return save_figure(ctx, "reliability", fig,
                        f"Reliability diagrams on the test split ({BINS} equal-width confidence bins): the accuracy of "
                        f"the samples in each bin against the diagonal a calibrated model would follow; hatched red is "
                        f"the gap to the bin's mean confidence; below, each bin's sample count (log scale). "
                        f"Left as trained, right after dividing the logits by the temperature fitted on validation.")


def measure_calibration(ctx: Context) -> Result:
    """ECE and NLL on test before and after a temperature fitted on validation; whether to apply the
    temperature is decided on validation (its ECE must fall), so the test numbers only measure the choice."""
    test, val = ctx.data.test, ctx.data.val
    test_logits, val_logits = predict(ctx.model, test.x, test.lengths), predict(ctx.model, val.x, val.lengths)
    temperature = fit_temperature(val_logits, val.y)
    before, after = softmax(test_logits), softmax(test_logits, temperature)
    values = {
        "ece": expected_calibration_error(before, test.y), "ece_scaled": expected_calibration_error(after, test.y),
        "nll": nll(test_logits, test.y), "nll_scaled": nll(test_logits, test.y, temperature),
        "temperature": temperature,
        "validation_nll": nll(val_logits, val.y), "validation_nll_scaled": nll(val_logits, val.y, temperature),
        "validation_ece": expected_calibration_error(softmax(val_logits), val.y),
        "validation_ece_scaled": expected_calibration_error(softmax(val_logits, temperature), val.y),
        "accuracy": float((before.argmax(axis=1) == test.y).mean()),
        "mean_confidence": float(before.max(axis=1).mean()),
        "mean_confidence_scaled": float(after.max(axis=1).mean()),
    }
    values = {key: rounded(value) for key, value in values.items()}
    advised = values["validation_ece_scaled"] < values["validation_ece"]
    values.update({"bins": BINS, "samples": len(test), "validation_samples": len(val), "temperature_advised": advised})
    lean = ("overconfident" if temperature > 1.05 else "underconfident" if temperature < 0.95
            else "already close to calibrated")
    chosen = (f"on validation it lowers the ECE from {values['validation_ece']:.3f} to "
              f"{values['validation_ece_scaled']:.3f}, so divide the logits by {temperature:.2f} before the softmax "
              f"to use its confidences as probabilities" if advised else
              f"on validation it does not lower the ECE ({values['validation_ece']:.3f} to "
              f"{values['validation_ece_scaled']:.3f}), so its confidences are best used as they are (dividing the "
              f"logits by {temperature:.2f} only lowers the NLL)")
    moved = {-1: "falls", 0: "stays", 1: "rises"}[int(np.sign(values["ece_scaled"] - values["ece"]))]
    summary = (f"By validation NLL the model is {lean}: the temperature fitted there is {temperature:.2f}; {chosen}. "
               f"Measured on the test split, ECE {moved} from {values['ece']:.3f} to {values['ece_scaled']:.3f} "
               f"with it (NLL {values['nll']:.3f} to {values['nll_scaled']:.3f}).")
    table = Table(["", "test ECE", "test NLL", "test mean confidence", "test accuracy", "validation ECE",
                   "validation NLL"],
                  [["as trained", values["ece"], values["nll"], values["mean_confidence"], values["accuracy"],
                    values["validation_ece"], values["validation_nll"]],
                   [f"temperature {temperature:.2f}", values["ece_scaled"], values["nll_scaled"],
                    values["mean_confidence_scaled"], values["accuracy"], values["validation_ece_scaled"],
                    values["validation_nll_scaled"]]],
                  f"Calibration on the test split ({len(test)} samples) and on the validation split ({len(val)} "
                  f"samples), where the temperature was fitted and the advice to apply it decided; the temperature "
                  f"leaves accuracy unchanged.")
    return Result(summary, values, [table], [_reliability_figure(ctx, {"as trained": before,
                                                                         f"T = {temperature:.2f}": after}, test.y)],
                  method=(f"Expected calibration error over {BINS} equal-width bins of top-class confidence, and "
                          f"temperature scaling fitted by minimising validation NLL (Guo et al. 2017, 'On "
                          f"Calibration of Modern Neural Networks'); NLL by scikit-learn's log_loss, the fit by "
                          f"scipy's bounded minimize_scalar over log T. The temperature is advised when it lowers "
                          f"the validation ECE; the test split only measures the result."))
