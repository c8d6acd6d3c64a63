"""Evaluation of a classifier: `zoo train`'s final step for cnn-digits on its 360-sample test split.

Times zoo.recipes.evaluate_classifier (prediction, scikit-learn point metrics, bootstrap
intervals) on an untrained cnn-digits (the work does not depend on the weights), the
vectorised bootstrap alone, and for reference the plain per-resample scikit-learn
bootstrap it replaced (2 x 1000 scikit-learn calls). Medians of --repeat runs after one
warm-up call; the first (cold) evaluation is reported apart. Target: evaluation <= 0.3 s.
Run: python benchmarks/evaluation.py [--repeat N] [--reference-repeat N]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import report  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import zoo  # noqa: E402
from zoo.models import load_model_data  # noqa: E402
from zoo.metrics import BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, bootstrap_intervals  # noqa: E402
from zoo.recipes import evaluate_classifier, predict_batches  # noqa: E402
from zoo.registry import get_model  # noqa: E402

MODEL = "cnn-digits"
TARGET = 0.3


def timed(fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def sklearn_loop(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict[str, list[float]]:
    """The bootstrap as it was written before: one scikit-learn call per resample and metric."""
    from sklearn.metrics import accuracy_score, f1_score

    labels = list(range(num_classes))
    result = {}
    for name, statistic in (("accuracy", accuracy_score),
                            ("f1_macro", lambda t, p: f1_score(t, p, labels=labels, average="macro", zero_division=0))):
        rng = np.random.default_rng(BOOTSTRAP_SEED)
        n = len(y_true)
        rows = (rng.integers(0, n, n) for _ in range(BOOTSTRAP_SAMPLES))
        values = [statistic(y_true[idx], y_pred[idx]) for idx in rows]
        result[name] = [float(v) for v in np.percentile(values, [2.5, 97.5])]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--reference-repeat", type=int, default=3, help="runs of the slow scikit-learn loop (0: skip)")
    args = parser.parse_args()
    data = load_model_data(get_model(MODEL))
    model = zoo.create_model(MODEL).eval()
    num_classes = data.info.num_classes

    def evaluate() -> dict:
        with torch.no_grad():
            return evaluate_classifier(model, data)

    cold = timed(evaluate)  # includes the first import of sklearn.metrics, as in a fresh `zoo train`
    evaluations = [timed(evaluate) for _ in range(args.repeat)]
    y_true = np.asarray(data.test.y)
    with torch.no_grad():
        y_pred = predict_batches(model, torch.from_numpy(data.test.x)).argmax(1).numpy()
    vectorised = [timed(lambda: bootstrap_intervals(y_true, y_pred, num_classes)) for _ in range(args.repeat)]
    same = bootstrap_intervals(y_true, y_pred, num_classes) == sklearn_loop(y_true, y_pred, num_classes)
    evaluation = statistics.median(evaluations)
    rows = [
        ["evaluate_classifier (first call)", len(y_true), 1, cold],
        ["evaluate_classifier", len(y_true), args.repeat, evaluation],
        ["bootstrap, vectorised", len(y_true), args.repeat, statistics.median(vectorised)],
    ]
    if args.reference_repeat > 0:
        reference = [timed(lambda: sklearn_loop(y_true, y_pred, num_classes)) for _ in range(args.reference_repeat)]
        rows.append(["bootstrap, per-resample scikit-learn", len(y_true), args.reference_repeat,
                     statistics.median(reference)])
    report("evaluation", ["step", "test_samples", "runs", "median_seconds"], rows,
           {"model": MODEL, "resamples": BOOTSTRAP_SAMPLES, "target_seconds": TARGET,
            "meets_target": evaluation <= TARGET, "intervals_identical_to_reference": same,
            "threads": torch.get_num_threads()})


if __name__ == "__main__":
    main()
