"""Classifier metrics: the vectorised bootstrap against scikit-learn resample by resample; the versions record."""
from __future__ import annotations

import json
import platform
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from zoo import metrics
from zoo.metrics import bootstrap_indices, bootstrap_intervals, bootstrap_scores, classification_metrics


def problem(seed: int, n: int = 57, num_classes: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """A small noisy classification with the awkward cases: a class never true (but predicted),
    a class neither true nor predicted (F1's zero division), and a prediction outside the labels."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, num_classes - 2, n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, num_classes - 1, n))
    y_pred[0] = num_classes + 3
    return y_true, y_pred


def sklearn_scores(y_true, y_pred, num_classes, rows):
    labels = list(range(num_classes))
    accuracy = [accuracy_score(y_true[idx], y_pred[idx]) for idx in rows]
    f1 = [f1_score(y_true[idx], y_pred[idx], labels=labels, average="macro", zero_division=0) for idx in rows]
    return np.array(accuracy), np.array(f1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bootstrap_scores_match_sklearn_resample_by_resample(seed):
    y_true, y_pred = problem(seed)
    rows = next(bootstrap_indices(len(y_true), 200, seed, chunk=200))
    scores = bootstrap_scores(y_true, y_pred, 6, rows)
    accuracy, f1 = sklearn_scores(y_true, y_pred, 6, rows)
    np.testing.assert_allclose(scores["accuracy"], accuracy, rtol=0, atol=1e-12)
    np.testing.assert_allclose(scores["f1_macro"], f1, rtol=0, atol=1e-12)


def test_bootstrap_intervals_match_a_plain_sklearn_bootstrap():
    """Same resamples as drawing them one by one from the seeded generator (so runs recorded
    before vectorising re-evaluate identically), scored by scikit-learn, then the percentiles."""
    y_true, y_pred = problem(3, n=91)
    rng = np.random.default_rng(metrics.BOOTSTRAP_SEED)
    rows = [rng.integers(0, len(y_true), len(y_true)) for _ in range(300)]
    accuracy, f1 = sklearn_scores(y_true, y_pred, 6, rows)
    got = bootstrap_intervals(y_true, y_pred, 6, samples=300, seed=metrics.BOOTSTRAP_SEED)
    np.testing.assert_allclose(got["accuracy"], np.percentile(accuracy, [2.5, 97.5]), rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["f1_macro"], np.percentile(f1, [2.5, 97.5]), rtol=0, atol=1e-12)


def test_bootstrap_does_not_depend_on_the_chunk_size(monkeypatch):
    y_true, y_pred = problem(4, n=200)
    whole = bootstrap_intervals(y_true, y_pred, 6, samples=150, seed=7)
    monkeypatch.setattr(metrics, "BOOTSTRAP_CHUNK", 450)  # two resamples per chunk
    assert bootstrap_intervals(y_true, y_pred, 6, samples=150, seed=7) == whole
    assert bootstrap_intervals(y_true, y_pred, 6, samples=150, seed=8) != whole


def test_intervals_bracket_the_point_estimates_and_keep_their_shape():
    rng = np.random.default_rng(5)
    y_true = rng.integers(0, 10, 360)
    y_pred = np.where(rng.random(360) < 0.8, y_true, rng.integers(0, 10, 360))
    result = classification_metrics(y_true, y_pred, 10)
    intervals = result["confidence_intervals"]
    assert set(intervals) == {"accuracy", "f1_macro", "level", "resamples"}
    assert intervals["level"] == 0.95 and intervals["resamples"] == metrics.BOOTSTRAP_SAMPLES
    for name in ("accuracy", "f1_macro"):
        low, high = intervals[name]
        assert isinstance(low, float) and isinstance(high, float)
        assert low < result[name] < high
    assert result == json.loads(json.dumps(result)), "plain JSON types only"
    assert classification_metrics(y_true, y_pred, 10) == result, "deterministic"


def test_versions_record_imports_no_onnx(tmp_path):
    """Training names the onnx/onnxruntime versions without importing either (they cost startup time)."""
    code = textwrap.dedent(f"""
        import json, sys
        import zoo.api
        run = zoo.api.train("cnn-digits", epochs=1, overrides={{"channels": "8,16", "hidden": 32}},
                            out={str(tmp_path / "run")!r})
        print(json.dumps({{"loaded": sorted(m for m in ("onnx", "onnxruntime") if m in sys.modules),
                          "versions": run.record["versions"]}}))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["loaded"] == []
    import onnx
    import onnxruntime
    import torch

    assert found["versions"] == {"zoo": __import__("zoo").__version__, "torch": torch.__version__,
                                 "numpy": np.__version__, "onnx": onnx.__version__,
                                 "onnxruntime": onnxruntime.__version__,
                                 "python": platform.python_version()}
