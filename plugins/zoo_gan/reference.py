"""Reference digits classifier used to score generated digits (with ``zoo.metrics.frechet_distance``).

The classifier is an sklearn MLP trained on the flattened train pixels; its hidden ReLU
activations serve as the feature space for the Frechet distance (an "FID" for 8x8
digits) and its predictions score class-conditional samples (label accuracy).
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier


class ReferenceClassifier:
    """Wraps a fitted ``MLPClassifier``; inputs are images (N, ...) or flat (N, D) in [0, 1]."""

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
