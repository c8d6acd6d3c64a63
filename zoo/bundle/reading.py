"""Raw inputs as a bundle's graph takes them: files as people hold them, read by the recorded preprocessing.

A bundle records what was done to its training data (``manifest["preprocessing"]``, written from the run:
``zoo.data.Data.preprocessing``): for images the colour mode, size, filter and inversion of
``zoo.sources.images`` (one decode function for training and deployment), for sequences their features.
``read_inputs`` turns what a deployer gives into the primary graph's feeds by that record:

* image files, and folders of them (one answer per file, in natural order, hidden files skipped);
* ``.ts`` and ``.csv`` files of sequences (padded to one length; the lengths fed where the graph takes them);
* ``.npy`` / ``.npz`` tensors, and numpy arrays, fed as they are (an ``.npz`` names the graph's inputs).

A file of the wrong kind is named for what it is ("not an image zoo can read", "expected 8 features per
step, got 6"), never called a pickle. Imports numpy, ``zoo.sources`` (Pillow) and ``zoo.bundle``; no torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from zoo.bundle import BundleError, Graph, lengths_inputs, load_arrays, sample_feeds, with_full_lengths
from zoo.errors import ZooError

TENSOR_SUFFIXES = (".npy", ".npz")
SEQUENCE_SUFFIXES = (".csv", ".ts")


@dataclass
class Batch:
    """Inputs read for one call: the graph's feeds, and a name for each sample (its file, or file[index])."""

    feeds: dict[str, np.ndarray]
    names: list[str]


def read_inputs(graph: Graph, record: Mapping[str, Any], inputs: Any) -> Batch:
    """The feeds of ``graph`` for ``inputs`` (paths, or numpy arrays that are already a batch)."""
    items = [inputs] if isinstance(inputs, (str, Path, np.ndarray)) else list(inputs)
    if not items:
        raise BundleError("no input given: give image files or folders, .csv/.ts sequences, or .npy/.npz tensors")
    if all(isinstance(item, np.ndarray) for item in items):
        x = items[0] if len(items) == 1 else np.concatenate(items)
        return _checked(graph, {graph.inputs[0]["name"]: x}, [f"[{i}]" for i in range(len(x))])
    if any(isinstance(item, np.ndarray) for item in items):
        raise BundleError("give either arrays or files, not both in one call")
    paths = [Path(item) for item in items]
    for path in paths:
        if not path.exists():
            raise BundleError(f"{path}: no such file or folder")
    tensors = [p for p in paths if p.is_file() and p.suffix.lower() in TENSOR_SUFFIXES]
    if tensors:
        if len(paths) != 1:
            raise BundleError(f"{tensors[0]}: a tensor file is a whole batch; give it alone (or give raw files)")
        return tensor_batch(graph, tensors[0])
    files = [f for p in paths for f in (_folder_files(p) if p.is_dir() else [p])]
    sequences = [f for f in files if f.suffix.lower() in SEQUENCE_SUFFIXES]
    if sequences:
        if len(sequences) != len(files):
            raise BundleError(f"{sequences[0]}: give sequence files (.csv, .ts) or images, not both in one call")
        if record.get("layout") == "image":
            raise BundleError(f"{sequences[0]}: a sequence file; this model takes images (image files or folders "
                              f"of them) or .npy/.npz tensors")
        return _sequence_batch(graph, record, sequences)
    return _image_batch(graph, record, files)


def tensor_batch(graph: Graph, path: Path) -> Batch:
    """An .npy feeds a graph's one input (a ``lengths`` input aside); an .npz names its arrays after the graph's
    inputs. A ``lengths`` input left out reads every sequence to the end of its array."""
    arrays = load_arrays(path)
    if "" in arrays:
        fed = [i for i in graph.inputs if i["name"] not in lengths_inputs(graph.inputs)]
        if len(fed) != 1:
            names = ", ".join(i["name"] for i in graph.inputs)
            raise BundleError(f"graph {graph.name!r} takes {len(graph.inputs)} inputs ({names}); "
                              f"give an .npz with one array per input")
        arrays = {fed[0]["name"]: arrays[""]}
    first = next(iter(arrays.values()), None)
    size = first.shape[0] if first is not None and first.ndim else 1
    return _checked(graph, with_full_lengths(graph.inputs, arrays), [f"{path.name}[{i}]" for i in range(size)])


def _checked(graph: Graph, feeds: dict[str, np.ndarray], names: list[str]) -> Batch:
    return Batch(graph.check_inputs(feeds), names)


def _folder_files(folder: Path) -> list[Path]:
    """A folder's image files (not its subfolders), naturally ordered, hidden files left out."""
    from zoo.sources.common import is_hidden, natural_key

    files = sorted((p for p in folder.iterdir() if p.is_file() and not is_hidden(p.name)),
                   key=lambda p: natural_key(p.name))
    if not files:
        raise BundleError(f"{folder}: a folder with no file in it")
    return files


def _image_rule(record: Mapping[str, Any], first: Path):
    from zoo.sources.images import ImageRule

    if "color_mode" not in record:
        raise BundleError(f"{first}: this bundle records no rule for reading images (its model was trained on "
                          f"arrays); give .npy/.npz tensors shaped as `zoo info` says")
    return ImageRule.from_record(record)


def _image_batch(graph: Graph, record: Mapping[str, Any], files: list[Path]) -> Batch:
    """Each file decoded by the bundle's image rule (the one decode function training used)."""
    from zoo.sources.common import pixels_to_float
    from zoo.sources.images import DamagedImage, decode

    rule = _image_rule(record, files[0])
    samples = []
    for file in files:
        try:
            pixels = decode(file, rule).array
        except DamagedImage as exc:
            raise BundleError(_not_readable(file, str(exc))) from None
        except ZooError as exc:
            raise BundleError(str(exc)) from None
        sample = pixels_to_float(pixels)
        samples.append(sample[0] if record.get("layout") == "sequence" else sample)  # a grey image's rows as steps
    return _checked(graph, {graph.inputs[0]["name"]: np.stack(samples)}, [str(f) for f in files])


def _not_readable(file: Path, reason: str) -> str:
    from zoo.sources import describe_file

    if "not an image Pillow can read" in reason:
        what = describe_file(file)
        return (f"{file}: not an image zoo can read, nor sequences (.csv, .ts) or tensors (.npy, .npz)"
                + (f": it looks like {what}" if what and not what.startswith("an image") else ""))
    return reason


def _sequence_batch(graph: Graph, record: Mapping[str, Any], files: list[Path]) -> Batch:
    """Every sequence of the files, padded with zeros after its end to one length; the lengths fed where the
    graph takes them, and the features checked against the model's."""
    from zoo.sources import read_source
    from zoo.sources.common import pad_sequences

    cases, names = [], []
    for file in files:
        try:
            source = read_source(file)
        except ZooError as exc:
            raise BundleError(str(exc)) from None
        for part in source.splits.values():
            for i, sample in enumerate(part.x):
                length = int(part.lengths[i]) if part.lengths is not None else len(sample)
                cases.append(np.asarray(sample[:length], dtype=np.float32))
                names.append(f"{file.name}[{len(names)}]")
    primary = graph.inputs[0]
    features = primary["shape"][-1]
    if isinstance(features, int) and cases and cases[0].shape[-1] != features:
        raise BundleError(f"{files[0]}: expected {features} feature{'s' if features != 1 else ''} per step, "
                          f"got {cases[0].shape[-1]}")
    x, lengths = pad_sequences(cases)
    fixed = primary["shape"][1]
    if isinstance(fixed, int) and x.shape[1] != fixed:
        raise BundleError(f"{files[0]}: this model reads sequences of exactly {fixed} steps, got "
                          f"{'lengths ' + str(sorted(set(lengths.tolist()))) if lengths is not None else x.shape[1]}")
    if lengths is not None and not lengths_inputs(graph.inputs):
        raise BundleError(f"{files[0]}: sequences of different lengths, and this model reads only equal ones "
                          f"(its graph takes no lengths input)")
    return _checked(graph, sample_feeds(graph.inputs, x.astype(primary["dtype"]), lengths), names)
