"""Task-level answers the server adds to a classifier's raw outputs.

A classifier (a model with ``class_names``) gets two outputs beyond its graph's, listed in its metadata and
returned like any other (by default, or when named in the request's ``outputs``):

- ``probabilities`` (FP32, ``[batch, classes]``): the model's class probabilities (softmax of the logits);
- ``label`` (BYTES, ``[batch]``): the name of the most probable class (config.json's ``data.class_names``
  when the bundle records them, else the class index).

And Triton's classification extension on any output whose last axis is the classes (the logits or
``probabilities``): ``"parameters": {"classification": k}`` on a requested output (``class_count=k`` in
tritonclient) turns it into BYTES ``[batch, k]``, the top k as ``"score:index:name"``, score first as
Triton formats it (the logit itself for the logits, the probability for ``probabilities``).

Imports numpy and ``zoo.serve.model`` only.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from zoo.serve.model import ServableModel, TensorSpec

PROBABILITIES, LABEL = "probabilities", "label"


def task_outputs(model: ServableModel) -> list[TensorSpec]:
    """The outputs the server adds to ``model``'s: a classifier's probabilities and label; none otherwise.
    A graph output of the same name wins (its own output is never hidden)."""
    if model.class_names is None:
        return []
    taken = {o.name for o in model.outputs}
    added = [TensorSpec(PROBABILITIES, np.dtype(np.float32), ("batch", len(model.class_names))),
             TensorSpec(LABEL, np.dtype(object), ("batch",))]
    return [spec for spec in added if spec.name not in taken]


def add_task_outputs(model: ServableModel, outputs: dict[str, np.ndarray], wanted: set[str]) -> None:
    """Compute the task outputs named in ``wanted`` from the graph's ``outputs``, in place."""
    added = {spec.name for spec in task_outputs(model)} & wanted
    if not added:
        return
    probabilities = model.probabilities(outputs)
    if PROBABILITIES in added:
        outputs[PROBABILITIES] = probabilities
    if LABEL in added:
        names = np.array([name.encode() for name in model.class_names], dtype=object)
        outputs[LABEL] = names[probabilities.argmax(axis=-1)]


def ranks_classes(model: ServableModel, name: str) -> bool:
    """Whether output ``name`` holds one score per class on its last axis (classification may rank it)."""
    if model.class_names is None:
        return False
    specs = {spec.name: spec for spec in [*model.outputs, *task_outputs(model)]}
    spec = specs.get(name)
    return spec is not None and spec.dtype.kind == "f" and spec.shape[-1:] == (len(model.class_names),)


def top_classes(scores: np.ndarray, class_names: Sequence[str], k: int) -> np.ndarray:
    """Triton's classification answer: for each row, the top ``k`` classes as ``b"score:index:name"``."""
    k = min(k, scores.shape[-1])
    order = np.argsort(-scores, axis=-1, kind="stable")[..., :k]
    top = np.take_along_axis(scores, order, axis=-1)
    flat = [f"{score:f}:{index}:{class_names[index]}".encode() for score, index in zip(top.ravel(), order.ravel())]
    answer = np.empty(len(flat), dtype=object)
    answer[:] = flat
    return answer.reshape(order.shape)

