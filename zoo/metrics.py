"""Metrics every family shares, computed with scikit-learn and numpy rather than by hand."""
from __future__ import annotations

from typing import Any

import numpy as np

BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0


def _bootstrap(y_true: np.ndarray, y_pred: np.ndarray, statistic, samples: int, seed: int) -> list[float]:
    """95% percentile interval of ``statistic`` over resamples of the test set."""
    rng = np.random.default_rng(seed)
    n = len(y_true)
    values = [statistic(y_true[idx], y_pred[idx]) for idx in (rng.integers(0, n, n) for _ in range(samples))]
    low, high = np.percentile(values, [2.5, 97.5])
    return [float(low), float(high)]


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int,
                           bootstrap: int = BOOTSTRAP_SAMPLES) -> dict[str, Any]:
    """Accuracy, macro precision / recall / F1, the confusion matrix, per-class results and
    bootstrap 95% intervals (the disaggregated view a model card needs)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    labels = list(range(num_classes))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0)
    macro = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)

    def macro_f1(t, p):
        return f1_score(t, p, labels=labels, average="macro", zero_division=0)

    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision_macro": float(macro[0]),
        "recall_macro": float(macro[1]),
        "f1_macro": float(macro[2]),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "per_class": {
            str(c): {"precision": float(precision[c]), "recall": float(recall[c]), "f1": float(f1[c]),
                     "support": int(support[c])}
            for c in labels
        },
        "confidence_intervals": {
            "accuracy": _bootstrap(y_true, y_pred, accuracy_score, bootstrap, BOOTSTRAP_SEED),
            "f1_macro": _bootstrap(y_true, y_pred, macro_f1, bootstrap, BOOTSTRAP_SEED),
            "level": 0.95,
            "resamples": bootstrap,
        },
    }


def reconstruction_metrics(x: np.ndarray, reconstruction: np.ndarray) -> dict[str, float]:
    """Mean squared error per pixel and PSNR for data in [0, 1] (peak 1)."""
    mse = float(np.mean((np.asarray(x, np.float64) - np.asarray(reconstruction, np.float64)) ** 2))
    return {"mse": mse, "psnr": float(10 * np.log10(1.0 / mse)) if mse > 0 else float("inf")}


def pca_baseline_mse(train: np.ndarray, test: np.ndarray, components: int) -> float:
    """Test MSE of PCA with ``components`` components fitted on train: the linear baseline."""
    from sklearn.decomposition import PCA

    flat_train, flat_test = train.reshape(len(train), -1), test.reshape(len(test), -1)
    pca = PCA(n_components=min(components, *flat_train.shape), random_state=0).fit(flat_train)
    restored = pca.inverse_transform(pca.transform(flat_test))
    return float(np.mean((flat_test.astype(np.float64) - restored) ** 2))


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (the FID formula).

    ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 sqrt(S_a S_b)). Feature covariances are often
    singular (dead ReLU units); then eps * I is added to both before the square root, and
    the tiny imaginary part round-off leaves is dropped.
    """
    import warnings

    from scipy import linalg

    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(cov_a @ cov_b)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(cov_a)) * eps
            covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(np.real(covmean)))
