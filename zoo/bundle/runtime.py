"""The deployer's API: a bundle loaded to answer questions, with numpy, Pillow and onnxruntime only.

``load(BUNDLE or NAME)`` checks the bundle (its signature first when a public key is given, then every
checksum; an encrypted bundle is decrypted in memory with the recipient's key) and opens its primary graph
(or the one named) in one ONNX Runtime session. The loaded model then answers by task:

* ``predict(inputs)`` takes raw files as people hold them (image files, folders of images, ``.csv`` and
  ``.ts`` sequences) or tensors (``.npy``/``.npz`` files, numpy arrays), applies the preprocessing the bundle
  records (``manifest["preprocessing"]``: the rule training read its data by), and returns one answer per
  input: ``Classified`` (the top classes by name with their probabilities), ``Reconstructed`` (the
  reconstruction and its error) or, for a generator's inputs, the generated samples;
* ``generate(n, seed, label)`` draws a generator's inputs as the manifest declares and returns its samples;
* ``run(feeds)`` is the graph itself: checked tensors in, every output out (``zoo predict --raw``, the server).

``zoo predict`` and ``zoo serve`` call this module. Torch is never imported here (a test holds it).
Imports: numpy, onnxruntime (through ``zoo.bundle``), ``zoo.sources`` for raw files, ``zoo.bundle`` and its
``signing`` (with a public key); never a layer above the bundle.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from zoo.bundle import Bundle, BundleError, Graph, SessionError, open_bundle
from zoo.bundle.reading import Batch, read_inputs
from zoo.errors import one_line

DEFAULT_TOP_K = 3  # classes per answer: zoo predict's --top-k and the cards' examples use it too


@dataclass
class Classified:
    """A classifier's answer for one input: its classes ranked by probability (``top``: name, probability)."""

    source: str
    top: list[tuple[str, float]]
    probabilities: np.ndarray = field(repr=False)

    @property
    def label(self) -> str:
        return self.top[0][0]

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.source, "label": self.label,
                "top": [{"class": name, "probability": round(float(p), 6)} for name, p in self.top]}


@dataclass
class Reconstructed:
    """An autoencoder's answer for one input: its reconstruction and the mean squared error between them."""

    source: str
    error: float
    reconstruction: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.source, "reconstruction_mse": round(float(self.error), 8)}


@dataclass
class Generated:
    """A generator's samples (``images``: N x C x H x W in [0, 1]) and the class label of each, when conditional."""

    images: np.ndarray = field(repr=False)
    labels: np.ndarray | None = None
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"samples": int(len(self.images)), "shape": list(self.images.shape[1:]), "seed": self.seed,
                **({"labels": [int(v) for v in self.labels]} if self.labels is not None else {})}


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits.astype(np.float64) - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class LoadedModel:
    """One graph of a checked bundle in an ONNX Runtime session, and what answering with it needs."""

    def __init__(self, bundle: Bundle, graph: Graph, threads: int | None = None) -> None:
        self.bundle, self.graph = bundle, graph
        self.manifest = bundle.manifest
        self.name: str = self.manifest["model"]
        self.task: str = self.manifest.get("task", "")
        self.preprocessing: dict[str, Any] = dict(self.manifest.get("preprocessing") or {})
        try:
            self._session = graph.session(threads=threads)
        except SessionError as exc:
            raise BundleError(f"{graph.path}: onnxruntime cannot load graph {graph.name!r} ({exc.reason})") from None

    # ----------------------------------------------------------------------------- the graph itself

    @property
    def inputs(self) -> list[dict[str, Any]]:
        """The graph's inputs as the manifest declares them (name, dtype, shape with named axes, how drawn)."""
        return self.graph.inputs

    @property
    def outputs(self) -> list[dict[str, Any]]:
        return self.graph.entry["outputs"]

    @property
    def class_names(self) -> list[str] | None:
        """A classifier's class names in label order (the bundle's record, else the class numbers); None for
        other tasks, or a graph whose one output is not a score per class."""
        outputs = self.outputs
        if self.task != "classification" or len(outputs) != 1 or not isinstance(outputs[0]["shape"][-1], int):
            return None
        count = outputs[0]["shape"][-1]
        names = self.preprocessing.get("class_names") or []
        return [str(n) for n in names] if len(names) == count else [str(i) for i in range(count)]

    def check(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``feeds`` checked against the graph's inputs (names, dtypes, ranks, fixed sizes, one size per axis)."""
        return self.graph.check_inputs(feeds)

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every output of the graph for checked ``feeds``; an ONNX Runtime failure is one ``BundleError``."""
        try:
            return self.graph.run(self._session, feeds)
        except Exception as exc:
            raise BundleError(f"onnxruntime failed to run model {self.name!r} ({one_line(exc)})") from None

    def probabilities(self, outputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """A classifier's class probabilities: the softmax of its logits (its one output), float32."""
        return _softmax(np.asarray(outputs[self.outputs[0]["name"]])).astype(np.float32)

    # ----------------------------------------------------------------------------- raw inputs

    def read(self, inputs: str | Path | np.ndarray | Sequence[str | Path | np.ndarray]) -> Batch:
        """The graph's feeds for raw inputs, read by the bundle's recorded preprocessing (see the module)."""
        return read_inputs(self.graph, self.preprocessing, inputs)

    # ----------------------------------------------------------------------------- answers by task

    def predict(self, inputs, top_k: int = DEFAULT_TOP_K) -> list[Classified] | list[Reconstructed]:
        """One task-level answer per input (see ``Classified``, ``Reconstructed``)."""
        if self.task == "generation":
            raise BundleError(f"{self.name} is a generator: it takes no inputs to answer; ask it for samples "
                              f"(zoo predict {self.name} --n 16 --out samples.png; model.generate(16))")
        batch = self.read(inputs)
        outputs = self.run(batch.feeds)
        if self.class_names is not None:
            names, probabilities = self.class_names, self.probabilities(outputs)
            k = max(1, min(int(top_k), len(names)))
            order = np.argsort(-probabilities, axis=-1, kind="stable")[:, :k]
            return [Classified(source, [(names[i], float(row[i])) for i in ranks], row)
                    for source, row, ranks in zip(batch.names, probabilities, order)]
        if self.task == "reconstruction":
            x = batch.feeds[self.inputs[0]["name"]]
            restored = outputs[self.outputs[0]["name"]]
            errors = ((restored.astype(np.float64) - x) ** 2).reshape(len(x), -1).mean(axis=1)
            return [Reconstructed(source, float(e), r) for source, e, r in zip(batch.names, errors, restored)]
        raise BundleError(f"{self.name}: no task-level answer for task {self.task!r}; use the graph's raw outputs "
                          f"(--raw)")

    def generate(self, n: int = 16, seed: int = 0, label: int | None = None) -> Generated:
        """``n`` samples of a generator: its inputs drawn as the manifest declares (seeded), a class-label input
        fixed to ``label`` when given."""
        if n < 1:
            raise BundleError(f"--n must be at least 1 (got {n})")
        labels_input = next((i for i in self.inputs if i.get("distribution") == "integers"), None)
        if label is not None:
            if labels_input is None:
                raise BundleError(f"{self.name} is not conditional: it takes no class label")
            low, high = int(labels_input["low"]), int(labels_input["high"])
            if not low <= label < high:
                raise BundleError(f"--label {label}: {self.name} takes class labels {low} to {high - 1}")
        feeds = self.graph.random_inputs(n, {}, seed=seed)
        if label is not None:
            feeds[labels_input["name"]] = np.full_like(feeds[labels_input["name"]], label)
        images = self.run(self.check(feeds))[self.outputs[0]["name"]]
        return Generated(np.clip(images, 0.0, 1.0), feeds[labels_input["name"]] if labels_input else None, seed)


def load(source: str | Path | Bundle, *, graph: str | None = None, variant: str | None = None,
         public_key: str | Path | None = None, key: Any = None, passphrase: str | bytes | None = None,
         threads: int | None = None) -> LoadedModel:
    """A bundle ready to answer: a folder, or a ``Bundle`` already opened (``zoo.hub.index.load_bundle`` opens
    a published model by name, its index entry checked, and passes it here).

    ``public_key``: the bundle's signature is checked first, before anything else is read. ``key``: a
    recipient's private key (PEM path, passphrase-protected with ``passphrase``, or ``env:VAR``) for an
    encrypted bundle. ``graph``: another graph than the primary one; ``variant``: int8 or fp16 where the
    bundle has them. ``threads``: ONNX Runtime's intra-op threads (default: its own choice)."""
    if not isinstance(source, Bundle):
        if public_key is not None:
            from zoo.bundle.signing import verify_signature

            verify_signature(source, public_key)
        source = open_bundle(source, key, passphrase)
    return LoadedModel(source, source.graph(graph).variant(variant), threads)
