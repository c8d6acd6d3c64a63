"""ONNX bundles on disk: the manifest, its checksums, and the graphs' input signatures.

A bundle is what `zoo export` writes and what `zoo verify` / `zoo predict` read::

    manifest.json           model, family, plugin, opset, exporter, versions, run, graphs, sha256 of every file
    <graph>.onnx            one file per graph (``model``; ``encoder``/``decoder``; ``generator`` ...)
    <graph>.<variant>.onnx  reduced-precision variants (``int8``, ``fp16``) when asked for (``zoo.bundle.variants``)
    test_data/<graph>.npz   inputs and PyTorch's outputs, arrays named ``input.<name>`` / ``output.<name>``
    export.log              what the exporter printed
    weights.safetensors     the run's trained PyTorch weights, byte for byte (``zoo.bundle.export``)
    config.json             what rebuilds the network for them without data (model, config, data facts)
    bundle.sig              a signature over every file, when signed (``zoo.bundle.signing``)

Deployers read bundles with numpy, onnx (to read a graph's declared external data without
loading it) and onnxruntime, so this package's reader and ``predict`` import neither torch nor
any zoo module that does; arrays are always loaded with ``allow_pickle=False``.

Layers: the package sits beside ``zoo.assess``, above ``zoo.models`` (which ``export`` and ``verify`` use
for the PyTorch side) and below the cards. This module imports only the base and the run records
(``zoo.errors``, ``zoo.fsutil``, ``zoo.graphs``, ``zoo.runs``); inside the package, ``verify`` uses
``deployment``, ``export`` uses ``variants``, and none of them imports back.

What ``open_bundle`` refuses before onnxruntime or numpy is given any file (``BundleError``, one
line, exit 2); the path checks run before any file but the manifest is even read:

- a path in the manifest (a graph's ``file``, a variant's ``file`` or ``test_data``, the
  ``pytorch`` entry's ``weights`` and ``config``, a key of the ``files`` checksum map) that is
  absolute, has a drive, contains ``..``, or resolves (symlinks followed) outside the bundle; a
  graph file that is not ``.onnx``, or whose file, test data, weights or config is not covered
  by the checksums;
- any file whose sha256 differs from the manifest's;
- a graph whose tensors name external data (``TensorProto.external_data`` ``location``)
  outside the bundle, or in a file the manifest's checksums do not cover: otherwise the
  weights could be swapped without touching a checksummed file.

External data is listed with ``onnx.load(..., load_external_data=False)``, walking every
place a tensor can sit (initializers, sparse initializers, node attributes, subgraphs of control
flow, functions, training info); a file that is not an ONNX protobuf is refused. ONNX Runtime
is the second line: 1.32 itself refuses external data that escapes the model's folder, and
``zoo verify`` reports a graph that ONNX Runtime will not load as a failure.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from zoo.errors import ZooError, one_line
from zoo.fsutil import read_json_object, sha256_file
from zoo.runs import CARD_DIR, CONFIG
from zoo.graphs import LENGTHS, GraphRoleError, primary

# /2: every graph states its role; variants are optional entries (absent: FP32 only), and so is ``pytorch``
# (the trained weights and their config; absent in bundles exported before it: no published weights)
FORMAT = "zoo-onnx-bundle/2"
MANIFEST = "manifest.json"
FP32 = "fp32"
TEST_DATA = "test_data"
LOG = "export.log"
INPUT_PREFIX, OUTPUT_PREFIX = "input.", "output."
ENCRYPTION = "encryption"  # the manifest section of an encrypted bundle (zoo.bundle.encryption.SECTION)
VERIFICATION = f"{CARD_DIR}/verification.json"  # the `zoo verify` report, kept for the card (save_report)


class BundleError(ZooError):
    """A bundle is missing, damaged, tampered with, or given input it cannot take."""


class SessionError(BundleError):
    """ONNX Runtime could not open a graph on a provider. ``skipped`` when the provider is not installed
    or the session fell back to another one (nothing ran there, so nothing failed), else a failure."""

    def __init__(self, message: str, reason: str, skipped: bool = False) -> None:
        super().__init__(message)
        self.reason, self.skipped = reason, skipped


CPU = "CPUExecutionProvider"


def open_session(source: Path | bytes, provider: str = CPU, provider_options: Mapping[str, Any] | None = None,
                 threads: int | None = None, what: str = "the graph"):
    """The one place zoo opens an ONNX Runtime session: on exactly ``provider`` (the CPU provider behind
    it only for the operators it lacks, never a silent fallback), logging nothing (a failure's reason
    reaches the caller's one line), ``threads`` intra-op threads where given. ``source``: a graph file,
    or its bytes (a decrypted graph is never written to disk)."""
    import onnxruntime as ort

    if provider not in ort.get_available_providers():
        reason = (f"{provider} not available in onnxruntime {ort.__version__} "
                  f"(install onnxruntime-gpu and run on a machine with a GPU)")
        raise SessionError(f"cannot open {what}: {reason}", reason, skipped=True)
    options = ort.SessionOptions()
    options.log_severity_level = 4
    if threads:
        options.intra_op_num_threads = threads
    chain = [(provider, dict(provider_options or {}))] + ([(CPU, {})] if provider != CPU else [])
    try:
        session = ort.InferenceSession(source if isinstance(source, bytes) else str(source), options,
                                       providers=chain, enable_fallback=0)
    except Exception as exc:
        reason = one_line(exc)
        raise SessionError(f"onnxruntime cannot load {what} ({reason})", reason) from None
    if session.get_providers()[0] != provider:
        reason = f"the session fell back to {session.get_providers()[0]}"
        raise SessionError(f"cannot open {what} on {provider}: {reason}", reason, skipped=True)
    return session


def checksums(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` except the manifest, by POSIX relative path."""
    return {p.relative_to(root).as_posix(): sha256_file(p)
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != MANIFEST}


def save_arrays(path: Path, inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]) -> None:
    """One graph's test vectors: its inputs and the reference outputs, in one .npz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {INPUT_PREFIX + k: v for k, v in inputs.items()}
    arrays.update({OUTPUT_PREFIX + k: v for k, v in outputs.items()})
    np.savez(path, **arrays)


def load_arrays(path: Path, data: bytes | None = None) -> dict[str, np.ndarray]:
    """Arrays of an .npy (under the name ``""``) or .npz, refusing pickled objects; ``data``: the file's bytes
    already in memory (a decrypted test-vector file), ``path`` then only names it."""
    import io

    source = io.BytesIO(data) if data is not None else path
    try:
        _check_array_magic(path, data[:8] if data is not None else _head(path))
        if path.suffix == ".npy":
            return {"": np.load(source, allow_pickle=False)}
        with np.load(source, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise BundleError(f"{path}: no such file") from None
    except BundleError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise BundleError(f"{path}: holds Python objects; refusing to unpickle") from None
        raise BundleError(f"{path}: not a valid .npy/.npz file ({exc})") from None
    except Exception as exc:  # BadZipFile, EOFError, OSError ...
        raise BundleError(f"{path}: not a valid .npy/.npz file ({type(exc).__name__}: {exc})") from None


_NPY, _ZIP, _PICKLE = b"\x93NUMPY", b"PK\x03\x04", b"\x80"
_OTHER_KINDS = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
                (b"BM", "a BMP image"), (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"))


def _head(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(8)


def _check_array_magic(path: Path, head: bytes) -> None:
    """Refuse, by its first bytes, a file that is not a .npy or .npz, naming what it looks like (numpy alone would
    call any such file a pickle)."""
    if head.startswith((_NPY, _ZIP)):
        return
    if head.startswith(_PICKLE):
        raise BundleError(f"{path}: holds Python objects (a pickle); refusing to unpickle")
    kind = next((name for magic, name in _OTHER_KINDS if head.startswith(magic)), None)
    if kind is None and head and all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        kind = "text"
    raise BundleError(f"{path}: not a .npy or .npz file" + (f" (it is {kind})" if kind else "")
                      + ("; give images by their own extension" if kind and "image" in kind else ""))


@dataclass(frozen=True)
class Graph:
    """One graph of a bundle, as its manifest entry describes it.

    ``reader`` reads a payload file of an encrypted bundle into memory (``zoo.bundle.encryption.Decryptor``);
    without it the files are read from disk. Graphs and test vectors go through ``graph_bytes`` and
    ``test_vectors``, so a decrypted graph is never written anywhere."""

    root: Path
    entry: dict[str, Any]
    reader: Callable[[str], bytes] | None = field(default=None, compare=False, repr=False)
    encrypted: bool = False

    @property
    def name(self) -> str:
        return self.entry["name"]

    @property
    def role(self) -> str:
        return self.entry["role"]

    @property
    def path(self) -> Path:
        return self.root / self.entry["file"]

    @property
    def inputs(self) -> list[dict[str, Any]]:
        return self.entry["inputs"]

    @property
    def output_names(self) -> list[str]:
        return [o["name"] for o in self.entry["outputs"]]

    @property
    def variant_name(self) -> str:
        """``fp32`` for the exported graph, else the variant this ``Graph`` stands for."""
        return self.entry.get("variant", FP32)

    @property
    def variants(self) -> dict[str, dict[str, Any]]:
        """The graph's reduced-precision variants by name, as the manifest describes them (FP32 not included)."""
        return self.entry.get("variants") or {}

    def variant(self, name: str | None) -> Graph:
        """The same graph in precision ``name`` (``None`` or ``fp32``: this one); same inputs and outputs."""
        if name in (None, FP32):
            return self
        if name not in self.variants:
            have = ", ".join([FP32, *self.variants])
            raise BundleError(f"{self.root}: graph {self.name!r} has no {name} variant (it has {have}; "
                              f"zoo export --variants makes them)")
        return Graph(self.root, {**self.entry, "file": self.variants[name]["file"], "variant": name}, self.reader,
                     self.encrypted)

    def _payload(self, name: str) -> bytes:
        """A payload file's bytes: decrypted in memory for an encrypted bundle (which needs the key)."""
        if self.reader is None:
            raise BundleError(f"{self.root}: its payload is encrypted; give a recipient's private key (--key, or "
                              f"the ZOO_DECRYPTION_KEY variable naming its file)")
        return self.reader(name)

    def graph_bytes(self) -> bytes | Path:
        """What ONNX Runtime loads: the graph file, or its decrypted bytes (an encrypted graph may name no
        external data: ONNX Runtime reads it from memory and could not find it)."""
        if not self.encrypted:
            return self.path
        data = self._payload(self.entry["file"])
        if EXTERNAL_DATA_KEY in data and _graph_names_external_data(data):
            raise BundleError(f"{self.path}: an encrypted graph may not name external data (it is read from memory)")
        return data

    def variant_tolerance(self, name: str) -> dict[str, float]:
        """What variant ``name`` must keep on the test split against FP32 (``zoo.graphs.VariantTolerance``)."""
        from zoo.graphs import VARIANT_TOLERANCES

        declared = self.entry.get("variant_tolerances", {}).get(name)
        return dict(declared) if declared else VARIANT_TOLERANCES[name].to_dict()

    def tolerance(self, output: str, deployment: bool = False) -> tuple[float, float]:
        """(atol, rtol) promised for ``output``: FP32, or the looser deployment promise (CUDA, TF32)."""
        found = self.entry["deployment_tolerances" if deployment else "tolerances"][output]
        return float(found["atol"]), float(found["rtol"])

    def test_vectors(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The stored inputs and PyTorch's outputs for them."""
        name = self.entry["test_data"]
        arrays = load_arrays(self.root / name, self._payload(name) if self.encrypted else None)
        pick = lambda prefix: {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}  # noqa: E731
        return pick(INPUT_PREFIX), pick(OUTPUT_PREFIX)

    def session(self, provider: str = CPU, provider_options: Mapping[str, Any] | None = None,
                threads: int | None = None):
        """This graph (in its precision) on ONNX Runtime: ``open_session``; a ``SessionError`` names it."""
        return open_session(self.graph_bytes(), provider, provider_options, threads,
                            what=f"graph {self.name!r} ({self.path})")

    def run(self, session, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The graph's outputs by name for ``inputs`` on ``session``."""
        return dict(zip(self.output_names, session.run(self.output_names, dict(inputs))))

    def export_lengths(self, stored: Mapping[str, np.ndarray] | None = None) -> dict[str, int]:
        """The length each named non-batch dynamic axis had at export (from the stored test vectors)."""
        stored = self.test_vectors()[0] if stored is None else stored
        return {d: stored[spec["name"]].shape[i] for spec in self.inputs
                for i, d in enumerate(spec["shape"]) if isinstance(d, str) and d != "batch"}

    def axis_range(self, axis: str) -> tuple[int, float]:
        """The lengths a named dynamic axis may take (inclusive), as the inputs' ``ranges`` declare them."""
        low, high = 1, float("inf")
        for spec in self.inputs:
            bound = (spec.get("ranges") or {}).get(axis)
            if bound:
                low = max(low, int(bound[0]))
                high = min(high, float("inf") if bound[1] is None else int(bound[1]))
        return low, high

    def random_inputs(self, batch: int, lengths: Mapping[str, int], seed: int) -> dict[str, np.ndarray]:
        """Fresh inputs drawn as the manifest's input entries say, with ``batch`` and the dynamic axes' lengths."""
        return random_inputs(self.inputs, batch, lengths, seed)

    def check_inputs(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``arrays`` checked against the signature (names, dtypes, ranks, fixed sizes, one batch size)."""
        expected = [i["name"] for i in self.inputs]
        if sorted(arrays) != sorted(expected):
            raise BundleError(f"graph {self.name!r} takes inputs {', '.join(expected)}; got "
                              f"{', '.join(sorted(arrays)) or 'none'}")
        symbols: dict[str, tuple[int, str]] = {}
        for spec in self.inputs:
            name, array, shape = spec["name"], arrays[spec["name"]], spec["shape"]
            if array.dtype != np.dtype(spec["dtype"]):
                raise BundleError(f"input {name!r} of graph {self.name!r} must be {spec['dtype']}, got {array.dtype}")
            if 0 in array.shape:  # ONNX Runtime 1.32 aborts the whole process on an LSTM given 0 rows
                raise BundleError(f"input {name!r} of graph {self.name!r} is empty (shaped {tuple(array.shape)}); "
                                  f"give at least one sample")
            if array.ndim != len(shape) or any(isinstance(d, int) and d != n for d, n in zip(shape, array.shape)):
                raise BundleError(f"input {name!r} of graph {self.name!r} must be shaped {shape_text(shape)}, "
                                  f"got {tuple(array.shape)}")
            for dim, size in zip(shape, array.shape):
                if isinstance(dim, str) and dim != "?":
                    first = symbols.setdefault(dim, (size, name))
                    if first[0] != size:
                        raise BundleError(f"inputs {first[1]!r} and {name!r} disagree on {dim!r} "
                                          f"({first[0]} and {size})")
        for name, axis in lengths_inputs(self.inputs).items():
            longest = symbols.get(axis, (None,))[0]
            values = arrays[name]
            if longest is not None and values.size and (values.min() < 1 or values.max() > longest):
                raise BundleError(f"input {name!r} of graph {self.name!r} holds each sequence's length, from 1 to "
                                  f"its {axis!r} axis ({longest}); got {values.min()} to {values.max()}")
        return {k: np.ascontiguousarray(arrays[k]) for k in expected}


def random_inputs(inputs: Sequence[Mapping[str, Any]], batch: int, lengths: Mapping[str, int],
                  seed: int) -> dict[str, np.ndarray]:
    """Inputs drawn as manifest input entries say (``distribution``, ``low``, ``high``, ``dtype``), with
    ``batch`` and the named axes' ``lengths``: verify, calibration, timing and the benchmarks draw with this.

    A ``lengths`` input (each sequence's length; ``zoo.graphs.GraphInput``) is drawn in
    [max(1, low), the current length of its ``axis``], the first sample at full length."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for spec in inputs:
        shape = [batch if d == "batch" else lengths[d] if isinstance(d, str) else d for d in spec["shape"]]
        if spec["distribution"] == LENGTHS:
            values = sequence_lengths(rng, shape, int(spec["low"]), lengths[spec["axis"]])
        elif spec["distribution"] == "integers":
            values = rng.integers(int(spec["low"]), int(spec["high"]), size=shape)
        elif spec["distribution"] == "normal":
            values = rng.standard_normal(shape)
        else:
            values = rng.uniform(spec["low"], spec["high"], size=shape)
        arrays[spec["name"]] = values.astype(spec["dtype"])
    return arrays


def sequence_lengths(rng: np.random.Generator, shape: Sequence[int], low: int, longest: int) -> np.ndarray:
    """Lengths drawn in [max(1, low), longest] (``low`` capped at ``longest``), the first at full length."""
    values = rng.integers(min(max(1, low), longest), longest + 1, size=shape)
    values.reshape(-1)[:1] = longest
    return values


def lengths_inputs(inputs: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The graph's ``lengths`` inputs, by name, with the axis each measures (``{"lengths": "time"}``)."""
    return {spec["name"]: spec["axis"] for spec in inputs if spec.get("distribution") == LENGTHS}


def with_full_lengths(inputs: Sequence[Mapping[str, Any]], arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``arrays`` with each missing ``lengths`` input filled in: every sequence as long as its axis (the
    arrays hold sequences of one length, unpadded). Where a ``lengths`` input is given it is kept."""
    found = dict(arrays)
    for name, axis in lengths_inputs(inputs).items():
        if name in found:
            continue
        for spec in inputs:
            if spec["name"] in found and axis in spec["shape"]:
                data = found[spec["name"]]
                found[name] = np.full(data.shape[0], data.shape[list(spec["shape"]).index(axis)], dtype=np.int64)
                break
    return found


def sample_feeds(inputs: Sequence[Mapping[str, Any]], x: np.ndarray, lengths: np.ndarray | None = None,
                 ) -> dict[str, np.ndarray]:
    """The feeds of a graph that reads samples ``x`` (a split's, a user's): its first input takes them, and a
    ``lengths`` input each sequence's length (``lengths``; every sequence full length where they share one)."""
    feeds = {inputs[0]["name"]: x}
    if lengths is not None:
        feeds.update(dict.fromkeys(lengths_inputs(inputs), np.asarray(lengths, dtype=np.int64)))
    return with_full_lengths(inputs, feeds)


# numpy dtype name -> the Open Inference Protocol's datatype (kserve open-inference-protocol, "Tensor Data Types");
# Triton's config.pbtxt names are "TYPE_" + these, except BYTES, which it calls TYPE_STRING. The server, the
# deployment files and the card's "Use it" requests all name tensors with this one table.
PROTOCOL_DATATYPES = {
    "bool": "BOOL",
    "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64",
    "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64",
    "float16": "FP16", "float32": "FP32", "float64": "FP64",
    "object": "BYTES",
}


def protocol_datatype(dtype: Any) -> str:
    """The protocol's name for a numpy dtype (``float32`` -> ``FP32``)."""
    name = np.dtype(dtype).name
    if name not in PROTOCOL_DATATYPES:
        raise ValueError(f"numpy dtype {name} has no Open Inference Protocol datatype")
    return PROTOCOL_DATATYPES[name]


def shape_text(shape: Sequence[int | str]) -> str:
    """A shape as people read it: ``(batch, 1, 8, 8)``; every zoo output formats shapes with this."""
    return "(" + ", ".join(str(d) for d in shape) + ")"


@dataclass(frozen=True)
class Bundle:
    """A bundle whose files have been checked against its manifest; ``reader`` decrypts an encrypted
    bundle's payload in memory (``open_bundle(path, key=...)``)."""

    path: Path
    manifest: dict[str, Any]
    reader: Callable[[str], bytes] | None = field(default=None, compare=False, repr=False)

    @property
    def graphs(self) -> list[Graph]:
        return [Graph(self.path, entry, self.reader, self.encrypted) for entry in self.manifest["graphs"]]

    @property
    def encrypted(self) -> bool:
        return ENCRYPTION in self.manifest

    def read(self, name: str) -> bytes:
        """A file the manifest checksums, as bytes: decrypted in memory when it is encrypted payload."""
        if self.encrypted and name in self.manifest[ENCRYPTION]["files"]:
            if self.reader is None:
                raise BundleError(f"{self.path}: {name} is encrypted; give a recipient's private key (--key)")
            return self.reader(name)
        return (self.path / name).read_bytes()

    @property
    def variants(self) -> list[str]:
        """The precisions the bundle holds, FP32 first (a bundle exported without --variants holds FP32 only)."""
        return list(self.manifest.get("variants") or [FP32])

    def run_path(self) -> Path:
        """The run the bundle was exported from, as its manifest records it: relative to the bundle
        (``zoo publish``) or absolute (``zoo export``); a ZooError when it names none or it is gone."""
        run = self.manifest.get("run")
        run = run.get("path") if isinstance(run, dict) else run
        if not isinstance(run, str) or not run:
            raise ZooError(f"{self.path / MANIFEST}: names no run to take the metrics from")
        candidate = self.path / run
        if (candidate / CONFIG).exists():
            return candidate
        raise ZooError(f"{self.path / MANIFEST}: its run {run} is not there any more")

    def graph(self, name: str | None = None) -> Graph:
        """The graph called ``name``; without a name, the bundle's primary graph."""
        by_name = {g.name: g for g in self.graphs}
        if name is None:
            try:
                return primary(self.graphs)
            except GraphRoleError as exc:
                raise BundleError(f"{self.path}: {exc}") from None
        if name not in by_name:
            raise BundleError(f"{self.path} has no graph {name!r} (it has {', '.join(by_name)})")
        return by_name[name]


def _relative(root: Path, name: Any, what: str) -> str:
    """``name`` as a normalised POSIX path, refused if it is absolute, has a drive, contains ``..`` or a
    backslash."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise BundleError(f"{root}: {what} {name!r} is not a file name")
    if name.startswith("/") or PureWindowsPath(name).drive or ".." in name.split("/"):
        raise BundleError(f"{root}: {what} {name!r} is outside the bundle (bundle paths are relative, "
                          f"without '..')")
    if "\\" in name:  # a separator on Windows: the same file name must mean the same file everywhere
        raise BundleError(f"{root}: {what} {name!r} is outside the bundle (bundle paths use '/', never '\\')")
    return PurePosixPath(name).as_posix()


def inside(root: Path, name: Any, what: str) -> str:
    """``name`` as a normalised POSIX path relative to ``root``, refused unless it stays inside ``root``.

    Bundle paths are relative and use ``/``; absolute paths, drives, ``..`` (with either slash)
    and symlinks that lead out of the bundle are refused with one line naming the path.
    """
    name = _relative(root, name, what)
    real = (root / name).resolve()
    if not real.is_relative_to(root.resolve()):
        raise BundleError(f"{root}: {what} {name!r} is outside the bundle (it resolves to {real})")
    return name


def check_paths(path: Path, manifest: Mapping[str, Any]) -> dict[str, str]:
    """Every path the manifest names stays inside the bundle, and every file a graph reads is checksummed.

    Returns the checksum map keyed by normalised relative path. Nothing is read but the manifest.
    """
    recorded, graphs = manifest.get("files"), manifest.get("graphs")
    if not isinstance(recorded, dict) or not isinstance(graphs, list) or not graphs:
        raise BundleError(f"{path / MANIFEST}: damaged manifest (needs a 'files' map and a list of 'graphs')")
    files = {inside(path, name, "checksummed file"): digest for name, digest in recorded.items()}
    for entry in graphs:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise BundleError(f"{path / MANIFEST}: damaged manifest (a graph entry without a name)")
        variants = entry.get("variants") or {}
        if not isinstance(variants, dict) or not all(isinstance(v, dict) for v in variants.values()):
            raise BundleError(f"{path / MANIFEST}: damaged manifest (graph {entry['name']!r} variants)")
        named = [(f"graph {entry['name']!r} {key}", entry.get(key), key == "file") for key in ("file", "test_data")]
        named += [(f"graph {entry['name']!r} {v} variant file", variants[v].get("file"), True) for v in variants]
        for what, value, graph_file in named:
            name = inside(path, value, what)
            if graph_file and not name.endswith(".onnx"):
                raise BundleError(f"{path}: {what} {name!r} is not an .onnx file")
            if name not in files:
                raise BundleError(f"{path}: {what} {name!r} is not covered by the manifest's checksums")
    pytorch = manifest.get("pytorch")
    if pytorch is not None:
        if not isinstance(pytorch, dict):
            raise BundleError(f"{path / MANIFEST}: damaged manifest (its 'pytorch' entry is not a mapping)")
        for key in ("weights", "config"):
            name = inside(path, pytorch.get(key), f"pytorch {key} file")
            if name not in files:
                raise BundleError(f"{path}: pytorch {key} file {name!r} is not covered by the manifest's checksums")
    return files


def verify_checksums(path: Path, manifest: Mapping[str, Any]) -> dict[str, str]:
    """Every path is inside the bundle and every file the manifest lists exists with its recorded sha256.

    Files added later (the model card in ``card/``) are allowed: nothing unlisted is ever loaded.
    Returns the checksum map by normalised relative path.
    """
    files = check_paths(path, manifest)
    for name, digest in files.items():
        file = path / name
        if not file.is_file():
            raise BundleError(f"{file}: missing from the bundle")
        if sha256_file(file) != digest:
            raise BundleError(f"{file}: checksum mismatch (tampered with or damaged since export)")
    return files


def _attribute_tensors(attribute) -> Iterator[Any]:
    if attribute.HasField("t"):
        yield attribute.t
    yield from attribute.tensors
    for sparse in [attribute.sparse_tensor] * attribute.HasField("sparse_tensor") + list(attribute.sparse_tensors):
        yield from (sparse.values, sparse.indices)
    for graph in [attribute.g] * attribute.HasField("g") + list(attribute.graphs):
        yield from _graph_tensors(graph)


def _node_tensors(nodes) -> Iterator[Any]:
    for node in nodes:
        for attribute in node.attribute:
            yield from _attribute_tensors(attribute)


def _graph_tensors(graph) -> Iterator[Any]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    yield from _node_tensors(graph.node)


def external_data_locations(graph_file: Path) -> list[str]:
    """Every external-data ``location`` any tensor of an ONNX file names: initializers (sparse too),
    node attributes, control-flow subgraphs, functions and training info. No data is loaded.

    Raises ValueError when the file is not an ONNX protobuf.
    """
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(graph_file), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ValueError(one_line(exc)) from None
    tensors = [*_graph_tensors(model.graph)]
    for function in model.functions:
        tensors += [*_node_tensors(function.node)]
        tensors += [t for attribute in function.attribute_proto for t in _attribute_tensors(attribute)]
    for training in model.training_info:
        tensors += [*_graph_tensors(training.initialization), *_graph_tensors(training.algorithm)]
    return [entry.value for tensor in tensors for entry in tensor.external_data if entry.key == "location"]


# The key every external-data reference of an ONNX tensor carries (TensorProto.external_data, a
# StringStringEntryProto): protobuf stores it as its UTF-8 bytes, so a graph file without them names none.
EXTERNAL_DATA_KEY = b"location"


ONNX_START = b"\x08"  # a serialised ModelProto opens with field 1, ir_version, a varint (tag 0x08)


def names_no_external_data(graph_file: Path) -> bool:
    """True when ``graph_file`` is plainly an ONNX model that cannot name external data: it opens as a
    ModelProto does and lacks the ``location`` key's bytes. One pass over bytes instead of importing onnx
    (about 1 s): the deployer's path parses only graphs that might name some, or might not be ONNX at all."""
    with open(graph_file, "rb") as handle:
        if handle.read(len(ONNX_START)) != ONNX_START:
            return False
        tail = b""
        for block in iter(lambda: handle.read(1 << 20), b""):
            if EXTERNAL_DATA_KEY in tail + block:
                return False
            tail = block[-len(EXTERNAL_DATA_KEY):]
    return True


def check_external_data(path: Path, graph: Graph, files: Mapping[str, str]) -> None:
    """Every external-data file ``graph`` reads lies inside the bundle and is covered by the checksums."""
    if names_no_external_data(graph.path):
        return
    try:
        locations = external_data_locations(graph.path)
    except ValueError as exc:
        raise BundleError(f"{graph.path}: not an ONNX protobuf ({exc})") from None
    folder = PurePosixPath(graph.entry["file"]).parent  # onnxruntime reads it relative to the graph's folder
    for location in dict.fromkeys(locations):
        what = f"graph {graph.name!r}{'' if graph.variant_name == FP32 else ' ' + graph.variant_name} external data"
        if location.startswith("*/_ORT_MEM_ADDR_/*"):  # onnxruntime's tag for in-memory data
            raise BundleError(f"{path}: {what} {location!r} names process memory, not a file")
        name = inside(path, (folder / _relative(path, location, what)).as_posix(), what)
        if name not in files:
            raise BundleError(f"{path}: {what} {location!r} is not covered by the manifest's checksums")


def open_bundle(path: str | Path, key: Any = None, passphrase: str | bytes | None = None) -> Bundle:
    """Read a bundle's manifest and check every path and checksum before anything is loaded.

    An encrypted bundle (``zoo.bundle.encryption``) is checked the same way, on its ciphertext and with no
    key; with ``key`` (a recipient's X25519 private key, its PEM path, or ``env:VAR``) its data key is
    unwrapped once and its graphs, test vectors and weights are decrypted in memory when read. The
    encryption section is checked either way (an unencrypted payload file beside encrypted ones is refused)."""
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{path}: not a zoo ONNX bundle (no {MANIFEST})")
    manifest = read_json_object(manifest_path, BundleError, "manifest")
    if not str(manifest.get("format", "")).startswith("zoo-onnx-bundle/"):
        raise BundleError(f"{manifest_path}: not a {FORMAT} manifest")
    if manifest["format"] != FORMAT:
        raise BundleError(f"{manifest_path}: bundle format {manifest['format']}, this zoo reads {FORMAT}: "
                          f"export the run again")
    files = verify_checksums(path, manifest)
    if ENCRYPTION in manifest:
        from zoo.bundle import encryption

        try:
            encryption.check_section(manifest)
            given = key is not None or bool(os.environ.get(encryption.KEY_ENV))  # the variable names a key file
            reader = encryption.open_encrypted(path, manifest, encryption.load_private_key(key, passphrase)).read \
                if given else None
        except encryption.EncryptionError as exc:
            raise BundleError(str(exc)) from None
        return Bundle(path, manifest, _one_line_errors(reader) if reader else None)
    bundle = Bundle(path, manifest)
    for graph in bundle.graphs:
        for variant in [None, *graph.variants]:
            check_external_data(path, graph.variant(variant), files)
    return bundle


def _one_line_errors(read: Callable[[str], bytes]) -> Callable[[str], bytes]:
    """A decryptor's reader whose failures are ``BundleError`` lines like every other bundle refusal."""
    from zoo.bundle.encryption import EncryptionError

    def checked(name: str) -> bytes:
        try:
            return read(name)
        except EncryptionError as exc:
            raise BundleError(str(exc)) from None
    return checked


def _graph_names_external_data(data: bytes) -> bool:
    """Whether an ONNX graph held in memory names external data (parsed only when the key's bytes occur)."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_from_string(data)
    except (DecodeError, ValueError, RuntimeError):
        return False  # not a graph at all: ONNX Runtime's own refusal names it
    return any(entry.key == EXTERNAL_DATA_KEY.decode() for tensor in _graph_tensors(model.graph)
               for entry in tensor.external_data)
