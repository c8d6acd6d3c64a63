"""Metrics every family shares, computed with scikit-learn and numpy rather than by hand."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from sklearn.neural_network import MLPClassifier

BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0
BOOTSTRAP_CHUNK = 1 << 20  # indices drawn per chunk of resamples (8 MiB of int64)


def bootstrap_indices(n: int, samples: int, seed: int, chunk: int) -> Iterator[np.ndarray]:
    """The resamples of ``range(n)``, ``chunk`` rows at a time as (rows, n) index arrays.

    One generator seeded with ``seed`` draws every row in order, so the rows are the same
    whatever ``chunk`` is, and the same as drawing one resample of ``n`` after another.
    """
    rng = np.random.default_rng(seed)
    for start in range(0, samples, chunk):
        yield rng.integers(0, n, (min(chunk, samples - start), n))


def bootstrap_scores(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int, indices: np.ndarray,
                     ) -> dict[str, np.ndarray]:
    """Accuracy and macro F1 of every resample ``y_true[row], y_pred[row]`` for the rows of ``indices``.

    The same definitions as scikit-learn's ``accuracy_score`` and ``f1_score(average="macro",
    labels=range(num_classes), zero_division=0)``, from per-resample confusion counts
    (one ``np.bincount`` for all rows): F1 of a class is 2 tp / (true + predicted), 0 for a
    class with neither; labels outside ``range(num_classes)`` count as wrong predictions and
    in no class's score, as with scikit-learn's ``labels``.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    rows, c = len(indices), num_classes + 1  # one extra bucket for labels outside range(num_classes)
    true = np.where((y_true >= 0) & (y_true < num_classes), y_true, num_classes).astype(np.int64)
    pred = np.where((y_pred >= 0) & (y_pred < num_classes), y_pred, num_classes).astype(np.int64)
    codes = (true * c + pred)[indices] + (np.arange(rows) * c * c)[:, None]
    counts = np.bincount(codes.ravel(), minlength=rows * c * c).reshape(rows, c, c)
    tp = np.diagonal(counts, axis1=1, axis2=2)[:, :num_classes].astype(np.float64)
    true_sum = counts.sum(axis=2)[:, :num_classes].astype(np.float64)
    pred_sum = counts.sum(axis=1)[:, :num_classes].astype(np.float64)
    denominator = true_sum + pred_sum
    f1 = np.where(denominator > 0, 2.0 * tp / np.where(denominator > 0, denominator, 1.0), 0.0)
    correct = (y_true == y_pred)[indices].sum(axis=1)
    return {"accuracy": correct / indices.shape[1], "f1_macro": f1.mean(axis=1)}


def bootstrap_intervals(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int,
                        samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED) -> dict[str, list[float]]:
    """95% percentile intervals of accuracy and macro F1 over ``samples`` resamples of the test set.

    Vectorised over resamples (``bootstrap_scores``), drawn in chunks of at most
    ``BOOTSTRAP_CHUNK`` indices (and confusion counts) to bound memory on large test sets.
    """
    n = len(y_true)
    chunk = max(1, BOOTSTRAP_CHUNK // max(n, (num_classes + 1) ** 2))
    parts = [bootstrap_scores(y_true, y_pred, num_classes, idx) for idx in bootstrap_indices(n, samples, seed, chunk)]
    intervals = {}
    for name in ("accuracy", "f1_macro"):
        low, high = np.percentile(np.concatenate([p[name] for p in parts]), [2.5, 97.5])
        intervals[name] = [float(low), float(high)]
    return intervals


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int,
                           bootstrap: int = BOOTSTRAP_SAMPLES) -> dict[str, Any]:
    """Accuracy, macro precision / recall / F1, the confusion matrix, per-class results and
    bootstrap 95% intervals (the disaggregated view a model card needs)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = list(range(num_classes))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0)
    macro = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)

    intervals = bootstrap_intervals(y_true, y_pred, num_classes, bootstrap, BOOTSTRAP_SEED)
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
            "accuracy": intervals["accuracy"],
            "f1_macro": intervals["f1_macro"],
            "level": 0.95,
            "resamples": bootstrap,
        },
    }


def mean_interval(values: np.ndarray, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED) -> list[float]:
    """95% percentile interval of the mean of ``values`` over ``samples`` resamples (the same draws as
    the classifiers' intervals)."""
    values = np.asarray(values, np.float64)
    chunk = max(1, BOOTSTRAP_CHUNK // max(len(values), 1))
    means = np.concatenate([values[idx].mean(axis=1) for idx in bootstrap_indices(len(values), samples, seed, chunk)])
    low, high = np.percentile(means, [2.5, 97.5])
    return [float(low), float(high)]


def separation(higher: np.ndarray, lower: np.ndarray) -> float:
    """AUROC of a score meant to be higher for the first group (1 = perfect, 0.5 = chance; scikit-learn)."""
    from sklearn.metrics import roc_auc_score

    truth = np.r_[np.ones(len(higher)), np.zeros(len(lower))]
    return float(roc_auc_score(truth, np.r_[higher, lower]))


def per_sample_mse(x: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """Mean squared error of each sample's reconstruction (float64): an autoencoder's loss, per sample."""
    squared = (np.asarray(x, np.float64) - np.asarray(reconstruction, np.float64)) ** 2
    return squared.reshape(len(squared), -1).mean(axis=1)


def reconstruction_metrics(x: np.ndarray, reconstruction: np.ndarray,
                           bootstrap: int = BOOTSTRAP_SAMPLES) -> dict[str, Any]:
    """Mean squared error per pixel and PSNR for data in [0, 1] (peak 1), with the MSE's bootstrap
    95% interval over test samples."""
    per_sample = per_sample_mse(x, reconstruction)
    mse = float(per_sample.mean())  # every sample has as many pixels: the mean of the per-sample means
    return {"mse": mse, "psnr": float(10 * np.log10(1.0 / mse)) if mse > 0 else float("inf"),
            "confidence_intervals": {"mse": mean_interval(per_sample, bootstrap), "level": 0.95,
                                     "resamples": bootstrap}}


def pca_baseline_mse(train: np.ndarray, test: np.ndarray, components: int) -> float:
    """Test MSE of PCA with ``components`` components fitted on train: the linear baseline."""
    from sklearn.decomposition import PCA

    flat_train, flat_test = train.reshape(len(train), -1), test.reshape(len(test), -1)
    pca = PCA(n_components=min(components, *flat_train.shape), random_state=0).fit(flat_train)
    restored = pca.inverse_transform(pca.transform(flat_test))
    return float(np.mean((flat_test.astype(np.float64) - restored) ** 2))


def nearest_neighbour_accuracy(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                               y_test: np.ndarray) -> float:
    """Test accuracy of 1-nearest-neighbour with Euclidean distance on the flattened samples (scikit-learn's
    ``KNeighborsClassifier(n_neighbors=1)``, in float64): the UCR/UEA archive's simplest baseline, "1-NN ED".

    Every sample must have the same length: between series of different lengths the distance is not defined,
    and padding them would change it, so the caller says "not defined" instead of calling this.
    """
    from sklearn.neighbors import KNeighborsClassifier

    flat_train = np.asarray(x_train, dtype=np.float64).reshape(len(x_train), -1)
    flat_test = np.asarray(x_test, dtype=np.float64).reshape(len(x_test), -1)
    predicted = KNeighborsClassifier(n_neighbors=1).fit(flat_train, y_train).predict(flat_test)
    return float(np.mean(predicted == np.asarray(y_test)))


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


class ReferenceClassifier:
    """A fixed judge of generated digits: an sklearn MLP trained on the flattened train pixels.

    Its hidden ReLU activations are the feature space of the Frechet distance (an "FID" for
    small images) and its predictions score generated samples (requested-label accuracy, class
    coverage). Inputs are images (N, ...) or flat (N, D) in [0, 1].
    """

    def __init__(self, mlp: MLPClassifier) -> None:
        self.mlp = mlp

    @staticmethod
    def _flat(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return x.reshape(len(x), -1)

    def features(self, x: np.ndarray) -> np.ndarray:
        """Penultimate activations relu(x @ W0 + b0), shape (N, hidden)."""
        h = self._flat(x) @ self.mlp.coefs_[0] + self.mlp.intercepts_[0]
        return np.maximum(h, 0.0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted class labels, shape (N,)."""
        return self.mlp.predict(self._flat(x))


def fit_reference_classifier(x_train: np.ndarray, y_train: np.ndarray, seed: int = 0) -> ReferenceClassifier:
    """Fit the reference MLP (128 ReLU hidden units, Adam, 300 epochs max) on the train split."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    mlp = MLPClassifier(hidden_layer_sizes=(128,), max_iter=300, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(ReferenceClassifier._flat(x_train), np.asarray(y_train))
    return ReferenceClassifier(mlp)


_FITTED: dict[str, ReferenceClassifier] = {}


def reference_classifier(data) -> ReferenceClassifier:
    """The reference classifier for ``data`` (a zoo.data.Data), fitted once per process and dataset."""
    if data.sha256 not in _FITTED:
        _FITTED[data.sha256] = fit_reference_classifier(data.train.x, data.train.y, seed=0)
    return _FITTED[data.sha256]
