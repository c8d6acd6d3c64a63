"""What the server needs from a loaded model (``ServableModel``), and the tensor facts it and ``zoo.deploy`` share.

Imports numpy only, so that ``zoo.deploy`` can use the same datatype names and batch-axis rule
without the web stack.

A model's inputs and outputs are ``TensorSpec``: a name, a numpy dtype and a shape whose entries are
sizes (``int``) or the names of dynamic axes (``str``, as the bundle's manifest writes them:
``("batch", 1, 8, 8)``). The Open Inference Protocol shows every named axis as ``-1``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from zoo.bundle import PROTOCOL_DATATYPES, protocol_datatype

DATATYPES = PROTOCOL_DATATYPES  # numpy dtype name -> the protocol's (zoo.bundle: the one table)
DTYPES = {datatype: np.dtype(name) for name, datatype in DATATYPES.items()}
datatype = protocol_datatype


@dataclass(frozen=True)
class TensorSpec:
    """One named input or output: its numpy dtype, and its shape with named dynamic axes."""

    name: str
    dtype: np.dtype
    shape: tuple[int | str, ...]

    @classmethod
    def from_manifest(cls, entry: Mapping[str, Any]) -> TensorSpec:
        """From a bundle manifest's graph input or output entry (``{"name", "dtype", "shape"}``)."""
        return cls(entry["name"], np.dtype(entry["dtype"]), tuple(entry["shape"]))

    @property
    def datatype(self) -> str:
        return datatype(self.dtype)

    @property
    def protocol_shape(self) -> list[int]:
        """The shape as the protocol shows it: every named (dynamic) axis is -1."""
        return [d if isinstance(d, int) else -1 for d in self.shape]


def batch_axis(inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> str | None:
    """The name of the batch axis when every input and output starts with the same named axis, else None.

    Only then may requests be stacked along axis 0 (the server's batching) and may Triton treat the first
    axis as its batch (``max_batch_size > 0``, the axis left out of ``dims``).
    """
    firsts = {spec.shape[0] if spec.shape else None for spec in [*inputs, *outputs]}
    if len(firsts) == 1:
        (first,) = firsts
        if isinstance(first, str) and first:  # "" is an unnamed dynamic axis: nothing says it is shared
            return first
    return None


@runtime_checkable
class ServableModel(Protocol):
    """A loaded model as the server uses it: its identity, its tensors, and ONNX Runtime to run it.

    ``inputs`` / ``outputs``: the graph's, in order. ``check(feeds)`` raises a ``zoo.errors.ZooError`` (one
    line; the server answers 400 with it) when the arrays do not fit the inputs (names, dtypes, ranks, fixed
    sizes, one size per named axis) and returns them ready for ``infer``; ``infer`` runs the graph on checked
    feeds (it may be called from a worker thread, several at once) and returns every output by name.

    ``class_names``: for a classifier, the name of every class along the last axis of its one output (its
    logits), else ``None``; ``probabilities(outputs)`` then turns ``infer``'s outputs into an array
    ``[batch, len(class_names)]`` of class probabilities (the task-level answer; only called on classifiers).
    """

    name: str
    version: str
    platform: str
    inputs: Sequence[TensorSpec]
    outputs: Sequence[TensorSpec]
    class_names: Sequence[str] | None

    def check(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def probabilities(self, outputs: Mapping[str, np.ndarray]) -> np.ndarray: ...
