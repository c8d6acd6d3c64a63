"""`zoo deploy triton`: a Triton Inference Server model repository from bundles.

For each bundle, ``<repo>/<model>/config.pbtxt`` (the ``ModelConfig`` protobuf in text format) and
``<repo>/<model>/1/model.onnx``, a copy of the primary FP32 graph whose sha256 is checked against the manifest
after copying. ``platform: "onnxruntime_onnx"``; the tensors are the manifest's (names, datatypes, in order)
with the shapes ONNX Runtime reports for the graph, because Triton's onnxruntime backend checks the config
against those: where the manifest names an axis that ONNX Runtime's shape inference fixes (the GANs' image
axes), the config must say the size. When every input and output starts with the same named axis, that axis is
Triton's batch (``max_batch_size > 0``, left out of ``dims``) and ``dynamic_batching`` is on; other dynamic axes
are ``-1``; ``instance_group`` says how many copies run on which device kind. Graphs that read external data
are refused (Triton would need those files beside the copy; no published bundle has any).

Every model folder is built beside its destination and renamed into place (``zoo.fsutil``); an existing model
folder is replaced only with ``force``, and nothing is written unless every bundle passes its checks.

Imports numpy, ``zoo.bundle`` (the one ONNX Runtime session opener among them), ``zoo.fsutil``, ``zoo.specs`` (the model-name rule), ``zoo.errors``
and ``zoo.serve.model`` (the datatype names and batch-axis rule the server uses too); never torch.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from zoo.bundle import (Bundle, BundleError, Graph, SessionError, external_data_locations, open_bundle,
                        open_session, sha256_file)
from zoo.errors import ZooError
from zoo.fsutil import disk_space, replace_dir, staging_dir
from zoo.serve.model import TensorSpec, batch_axis
from zoo.specs import NAME_PATTERN

CONFIG = "config.pbtxt"
VERSION = "1"
MODEL_FILE = "model.onnx"  # the onnxruntime backend's default_model_filename
KINDS = ("KIND_CPU", "KIND_GPU")
# ONNX Runtime's tensor type names -> numpy's
ONNXRUNTIME_TYPES = {"float": "float32", "double": "float64", "float16": "float16", "bool": "bool", "string": "object",
                     **{t: t for t in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")}}


class DeployError(ZooError):
    """A deployment cannot be written: bad options, an existing model folder without force, a bundle it cannot use."""


@dataclass(frozen=True)
class TritonOptions:
    """``max_batch_size``: the most rows Triton stacks (batching models only). ``instances``, ``kind``: the
    ``instance_group``. ``max_queue_delay_us``: how long Triton's dynamic batcher may hold a request for
    company (0, as zoo serve measured best at low load). ``preferred_batch_sizes``: batch sizes it aims for."""

    max_batch_size: int = 64
    instances: int = 1
    kind: str = "KIND_CPU"
    max_queue_delay_us: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "instances"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise DeployError(f"{name} must be a whole number >= 1, got {value!r}")
        if self.kind not in KINDS:
            raise DeployError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not isinstance(self.max_queue_delay_us, int) or self.max_queue_delay_us < 0:
            raise DeployError(f"max_queue_delay_us must be a whole number >= 0, got {self.max_queue_delay_us!r}")
        if any(not 1 <= size <= self.max_batch_size for size in self.preferred_batch_sizes):
            raise DeployError(f"preferred batch sizes must lie in 1..{self.max_batch_size}, "
                              f"got {list(self.preferred_batch_sizes)}")


def text(value: str) -> str:
    """A protobuf text-format string literal: quotes, backslashes and every byte outside printable ASCII escaped."""
    escaped = "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\{b:03o}" for b in value.encode())
    return f'"{escaped}"'


def triton_type(spec: TensorSpec) -> str:
    """Triton's data type name: ``TYPE_`` and the protocol's datatype (BYTES is ``TYPE_STRING``)."""
    return "TYPE_STRING" if spec.datatype == "BYTES" else f"TYPE_{spec.datatype}"


def _tensors(kind: str, specs: Sequence[TensorSpec], batched: bool) -> list[str]:
    lines = [f"{kind} ["]
    for index, spec in enumerate(specs):
        dims = spec.protocol_shape[1:] if batched else spec.protocol_shape
        lines += ["  {", f"    name: {text(spec.name)}", f"    data_type: {triton_type(spec)}"]
        if dims:
            lines += [f"    dims: [ {', '.join(str(d) for d in dims)} ]"]
        else:  # one value per batch row: Triton wants dims [1] reshaped to [] (its docs, "Reshape")
            lines += ["    dims: [ 1 ]", "    reshape: { shape: [ ] }"]
        lines += ["  }" + ("," if index < len(specs) - 1 else "")]
    return lines + ["]"]


def model_config(name: str, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec],
                 options: TritonOptions = TritonOptions()) -> str:
    """The ``config.pbtxt`` of model ``name`` with these tensors, on ONNX Runtime."""
    batched = batch_axis(inputs, outputs) is not None
    lines = ["# Written by zoo deploy triton from the bundle's manifest and its FP32 graph.",
             f"name: {text(name)}", 'platform: "onnxruntime_onnx"',
             f"max_batch_size: {options.max_batch_size if batched else 0}",
             *_tensors("input", inputs, batched), *_tensors("output", outputs, batched)]
    if batched:
        lines += ["dynamic_batching {"]
        if options.preferred_batch_sizes:
            lines += [f"  preferred_batch_size: [ {', '.join(map(str, options.preferred_batch_sizes))} ]"]
        lines += [f"  max_queue_delay_microseconds: {options.max_queue_delay_us}", "}"]
    lines += ["instance_group [", "  {", f"    count: {options.instances}", f"    kind: {options.kind}", "  }", "]"]
    return "\n".join(lines) + "\n"


def graph_tensors(graph: Graph) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The graph's inputs and outputs as ONNX Runtime loads them (what Triton's backend compares a config with),
    checked against the manifest's names and dtypes. An unnamed dynamic axis is ``""``."""
    try:
        session = open_session(graph.path, what=f"graph {graph.name!r}")
    except SessionError as exc:
        raise BundleError(f"{graph.path}: {exc}") from None
    found = []
    for declared, loaded in [(graph.inputs, session.get_inputs()), (graph.entry["outputs"], session.get_outputs())]:
        specs = []
        for node in loaded:
            kind = node.type.removeprefix("tensor(").removesuffix(")")
            if kind not in ONNXRUNTIME_TYPES:
                raise DeployError(f"{graph.path}: tensor {node.name!r} is {node.type}, which a Triton config "
                                  f"cannot name")
            shape = tuple(d if isinstance(d, (int, str)) else "" for d in node.shape)
            specs.append(TensorSpec(node.name, np.dtype(ONNXRUNTIME_TYPES[kind]), shape))
        if [(s.name, s.dtype) for s in specs] != [(d["name"], np.dtype(d["dtype"])) for d in declared]:
            raise BundleError(f"{graph.path}: the graph's tensors ({', '.join(s.name for s in specs)}) are not the "
                              f"ones its manifest lists ({', '.join(d['name'] for d in declared)})")
        found.append(specs)
    return found[0], found[1]


def _model_name(bundle: Bundle) -> str:
    name = bundle.manifest.get("model")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise BundleError(f"{bundle.path}: manifest model name {name!r} must match {NAME_PATTERN.pattern}")
    return name


def _primary(bundle: Bundle) -> Graph:
    graph = bundle.graph()
    if external_data_locations(graph.path):
        raise DeployError(f"{bundle.path}: graph {graph.name!r} reads external data; zoo deploy triton copies "
                          f"single-file graphs only")
    return graph


def _write_model(out: Path, name: str, bundle: Bundle, graph: Graph, options: TritonOptions) -> Path:
    """Build the model's folder beside its destination; the caller renames it into place."""
    dest = out / name
    tmp = staging_dir(dest)
    try:
        with disk_space(dest):
            (tmp / VERSION).mkdir()
            copy = tmp / VERSION / MODEL_FILE
            shutil.copyfile(graph.path, copy)
            (tmp / CONFIG).write_text(model_config(name, *graph_tensors(graph), options), encoding="utf-8")
        expected = bundle.manifest["files"][graph.entry["file"]]
        if sha256_file(copy) != expected:
            raise BundleError(f"{graph.path}: changed while it was copied (its sha256 no longer matches the manifest)")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def write_repository(bundles: Sequence[str | Path], out: str | Path, *, force: bool = False,
                     options: TritonOptions = TritonOptions()) -> list[Path]:
    """Write one Triton model per bundle into the repository ``out`` (created if missing); returns the model
    folders. Every bundle's checksums pass and every destination is free (or ``force``) before anything is
    written; other models already in ``out`` are left alone."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DeployError(f"{out}: not a folder (a Triton model repository is one)")
    opened = [open_bundle(path) for path in bundles]
    if not opened:
        raise DeployError("give at least one bundle to deploy")
    for bundle in opened:
        if bundle.encrypted:  # Triton reads model.onnx from disk as it is: no place for a decrypted copy
            raise DeployError(f"{bundle.path}: its graphs are encrypted, and Triton loads model files from disk "
                              f"unencrypted (it has no decryption of its own); deploy a plain bundle")
    names = [_model_name(bundle) for bundle in opened]
    for name in {n for n in names if names.count(n) > 1}:
        raise DeployError(f"two bundles are both model {name!r}; a repository holds each model once")
    existing = [name for name in names if (out / name).exists()]
    if existing and not force:
        raise DeployError(f"{out}: already holds {', '.join(existing)}; use force to replace")
    graphs = [_primary(bundle) for bundle in opened]
    built: list[tuple[Path, Path]] = []
    try:
        for name, bundle, graph in zip(names, opened, graphs):
            built.append((_write_model(out, name, bundle, graph, options), out / name))
    except BaseException:
        for tmp, _ in built:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    for tmp, dest in built:
        replace_dir(tmp, dest)
    return [dest for _, dest in built]
