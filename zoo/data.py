"""Datasets: the arrays, the fixed split every model and card uses, and user files.

A dataset reaches a model as `Data`: float32 samples shaped like the model's layout ("image":
(C, H, W) in [0, 1]; "sequence": (T, F), values as stored, padded after each sequence's end when
`lengths` is given), int64 labels, and train / val / test splits drawn once with a fixed seed,
stratified by label (split folders and a file's own test split are kept). User files are read by
`zoo.sources` (image folders, .csv, .ts, .npz, IDX), which also records their preprocessing.

Imports from zoo: `zoo.errors`, `zoo.specs`, `zoo.sources`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from zoo.sources import Arrays, DataError, ReadOptions, Source, read_source
from zoo.sources.arrays import read_idx
from zoo.sources.common import NO_SCALING, SCALING, check_finite, listing, pixels_to_float, plural
from zoo.specs import DatasetSpec

__all__ = ["Arrays", "Data", "DataError", "DataInfo", "load_data", "load_file", "prepare", "read_idx", "split"]

SPLIT_SEED = 0
TEST_FRACTION = 0.2
VAL_FRACTION = 0.1
MIN_PER_CLASS = 5
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about its data to size itself.

    ``class_names``: the classes in index order where the data names them (folders, text labels),
    else empty. ``min_length``/``max_length``: the shortest and longest sequence when sequences
    differ in length (``sample_shape[0]`` is then the padded length, ``max_length``), else ``None``.
    """

    name: str
    layout: str
    sample_shape: tuple[int, ...]
    num_classes: int
    class_names: tuple[str, ...] = ()
    min_length: int | None = None
    max_length: int | None = None

    @property
    def variable_length(self) -> bool:
        return self.max_length is not None


@dataclass(frozen=True)
class Data:
    """Loaded, validated, split data, with where it came from.

    ``preprocessing``: the JSON-able record of what was done to the raw data (layout, colour, size,
    scaling, class names ...; ``zoo.sources``); ``skipped``: damaged files left out (relative paths);
    ``note``: how the data was read, for the user ("decoded 5,000 images ...", "read from the cache").
    """

    info: DataInfo
    train: Arrays
    val: Arrays
    test: Arrays
    source: str
    sha256: str
    preprocessing: Mapping[str, Any] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    note: str = ""

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


# --------------------------------------------------------------------------- files


def _options(options: ReadOptions | Mapping[str, Any] | None) -> ReadOptions:
    return options if isinstance(options, ReadOptions) else ReadOptions.from_mapping(options)


def load_file(path: str | Path, options: ReadOptions | Mapping[str, Any] | None = None) -> Arrays | dict[str, Arrays]:
    """The arrays of user data (``zoo.sources.read_source`` reads it): one pool, or the splits the data
    itself gives (``train``, ``val``, ``test``). ``load_data`` also keeps the names and the record."""
    source = read_source(path, _options(options))
    return source.splits["all"] if set(source.splits) == {"all"} else dict(source.splits)


# --------------------------------------------------------------------------- checks


def _scale(x: np.ndarray, layout: str, where: str) -> np.ndarray:
    """uint8 pixels to [0, 1] (``zoo.sources.common.pixels_to_float``); other numbers as float32: images
    must already lie in [0, 1], sequences keep their values and need only be finite."""
    if x.dtype == np.uint8:
        return pixels_to_float(x)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)) or x.dtype == np.bool_:
        expected = "uint8 (0-255) or floats in [0, 1]" if layout == "image" else "numbers (uint8 pixels, floats)"
        raise DataError(f"{where}: x has dtype {x.dtype}; expected {expected}")
    x = x.astype(np.float32)
    check_finite(x, where)
    if layout == "image" and x.size and (x.min() < 0.0 or x.max() > 1.0):
        raise DataError(f"{where}: x values must lie in [0, 1] (found {x.min():.4g} to {x.max():.4g}); "
                        f"scale them, or save uint8 pixels")
    return x


def scaling(dtype: np.dtype, layout: str) -> str:
    """What ``_scale`` does to samples of ``dtype``, in words (for the preprocessing record)."""
    if dtype == np.uint8:
        return SCALING
    return "none: floats in [0, 1] as stored" if layout == "image" else NO_SCALING


def _shape_for(x: np.ndarray, layout: str, where: str) -> np.ndarray:
    """Bring samples to the layout's rank: images (N, C, H, W), sequences (N, T, F)."""
    if layout == "image":
        if x.ndim == 3:
            return x[:, None, :, :]
        if x.ndim == 4:
            return x
        raise DataError(f"{where}: x has shape {x.shape}; this model takes images (N, H, W) or (N, C, H, W)")
    if x.ndim == 3:
        return x
    if x.ndim == 4 and x.shape[1] == 1:
        return x[:, 0]
    raise DataError(f"{where}: x has shape {x.shape}; this model takes sequences (N, T, F)")


def _labels(y: np.ndarray | None, n: int, where: str, needs_labels: bool) -> np.ndarray | None:
    if y is None:
        if needs_labels:
            raise DataError(f"{where}: this model needs labels (an array 'y', or the IDX labels file)")
        return None
    if y.ndim != 1 or y.shape[0] != n:
        raise DataError(f"{where}: y has shape {y.shape}; expected ({n},), one label per sample")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and (y == np.round(y)).all():
            y = y.astype(np.int64)
        else:
            raise DataError(f"{where}: y must hold integer class labels (dtype {y.dtype})")
    if n and y.min() < 0:
        raise DataError(f"{where}: labels must be 0 or more (found {y.min()})")
    return y.astype(np.int64)


def _ranges(values: list[int]) -> str:
    """[0, 2, 3, 4, 9] -> '0, 2-4, 9'."""
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][-1] + 1:
            runs[-1].append(v)
        else:
            runs.append([v])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def _class(c: int, names: tuple[str, ...]) -> str:
    """A class as an error line names it: its name where known, else its index."""
    return repr(names[c]) if names else str(c)


def _check_classes(y: np.ndarray, where: str, names: tuple[str, ...] = ()) -> int:
    """The number of classes (the named ones, else 0 to the largest label); every one must have a sample."""
    present = np.unique(y)
    if names and present[-1] >= len(names):
        raise DataError(f"{where}: labels run to {int(present[-1])} but only {plural(len(names), 'class name')} "
                        f"are given")
    if len(present) < 2:
        raise DataError(f"{where}: every label is {_class(int(present[0]), names)}; a model that needs labels needs "
                        f"at least two distinct classes")
    num_classes = len(names) if names else int(present[-1]) + 1
    empty = sorted(set(range(num_classes)) - {int(c) for c in present})
    if empty and names:
        raise DataError(f"{where}: {plural(len(empty), 'class', 'classes')} without a sample: "
                        f"{listing([_class(c, names) for c in empty])}")
    if empty:
        raise DataError(f"{where}: labels run from 0 to {num_classes - 1} but class{'es' if len(empty) > 1 else ''} "
                        f"{_ranges(empty)} {'have' if len(empty) > 1 else 'has'} no sample; number the classes "
                        f"0 to {len(present) - 1}")
    return num_classes


def prepare(raw: Arrays, layout: str, where: str, needs_labels: bool) -> Arrays:
    """Validate and normalise one block of raw arrays; every problem is one DataError line."""
    if raw.x.ndim < 1 or raw.x.shape[0] == 0:
        raise DataError(f"{where}: x holds no samples")
    if raw.lengths is not None and layout != "sequence":
        raise DataError(f"{where}: holds sequences of different lengths; this model takes images")
    x = _shape_for(_scale(np.asarray(raw.x), layout, where), layout, where)
    y = _labels(None if raw.y is None else np.asarray(raw.y), x.shape[0], where, needs_labels)
    lengths = None if raw.lengths is None else np.asarray(raw.lengths, dtype=np.int64)
    return Arrays(np.ascontiguousarray(x), y, lengths)


# --------------------------------------------------------------------------- splits


def _too_few(labels: np.ndarray | None, where: str, names: tuple[str, ...]) -> None:
    """Every class must have MIN_PER_CLASS samples to be split; one line naming each that has fewer."""
    if labels is None:
        return
    counts = np.bincount(labels)
    small = [(c, int(n)) for c, n in enumerate(counts) if 0 < n < MIN_PER_CLASS]
    if len(small) == 1:
        (c, n), = small
        raise DataError(f"{where}: class {_class(c, names)} has {n} samples; each class needs at least "
                        f"{MIN_PER_CLASS} for the stratified train/val/test split")
    if small:
        raise DataError(f"{where}: {len(small)} classes have too few samples for the stratified train/val/test split "
                        f"(each needs at least {MIN_PER_CLASS}): "
                        f"{listing([f'{_class(c, names)} ({n})' for c, n in small])}")


def _stratified(labels: np.ndarray | None, indices: np.ndarray, fraction: float, where: str):
    from sklearn.model_selection import train_test_split

    strata = None if labels is None else labels[indices]
    try:
        return train_test_split(indices, test_size=fraction, stratify=strata, random_state=SPLIT_SEED)
    except ValueError as exc:
        raise DataError(f"{where}: cannot split {len(indices)} samples: {exc}") from None


def split(raw: Arrays | dict[str, Arrays], where: str, names: tuple[str, ...] = ()) -> tuple[Arrays, Arrays, Arrays]:
    """The fixed seeded stratified split: 70% train, 10% val, 20% test; splits the data gives are kept
    (``train`` with ``test`` and/or ``val``), and what is missing is drawn from ``train``."""
    if isinstance(raw, dict):
        pool, val, test = raw["train"], raw.get("val"), raw.get("test")
    else:
        pool, val, test = raw, None, None
    if val is None or test is None:
        _too_few(pool.y, where, names)
    indices = np.arange(len(pool))
    if test is None:
        indices, test_idx = _stratified(pool.y, indices, TEST_FRACTION, where)
        test = pool.take(np.sort(test_idx))
    if val is None:
        val_share = VAL_FRACTION / (1 - TEST_FRACTION) if not isinstance(raw, dict) else VAL_FRACTION
        train_idx, val_idx = _stratified(pool.y, indices, val_share, where)
        train, val = pool.take(np.sort(train_idx)), pool.take(np.sort(val_idx))
    else:
        train = pool.take(np.sort(indices))
    parts = train, val, test
    for name, part in zip(SPLITS, parts):
        if len(part) == 0:
            raise DataError(f"{where}: the {name} split is empty; more samples are needed")
    return parts


def _fingerprint(every: Mapping[str, Arrays], names: tuple[str, ...]) -> str:
    """SHA-256 of the prepared arrays (what the model sees, so a changed file, folder or decoding rule
    changes it), with the lengths and the class names read from the data (folder names, labels in a file)
    where it has them. A registered dataset's declared names are its plugin's, not read: left out, so the
    runs of earlier zoo versions keep their fingerprint."""
    digest = hashlib.sha256()
    for part in every.values():
        for a in (part.x, part.y):
            if a is not None:
                digest.update(str(a.shape).encode())
                digest.update(np.ascontiguousarray(a).tobytes())
    for part in every.values():
        if part.lengths is not None:
            digest.update(b"lengths" + np.ascontiguousarray(part.lengths).tobytes())
    if names:
        digest.update(b"class_names" + json.dumps(list(names)).encode())
    return digest.hexdigest()


def _splits_record(given: Mapping[str, Arrays], source: Source) -> dict[str, str]:
    """Where each split came from, in words: given by the data (a split folder, a file's own split) or
    drawn by ``split``."""
    folders = source.preprocessing.get("split_folders") or {}
    drawn = f"stratified by label, seed {SPLIT_SEED}"
    if not given:
        return {"train": f"the rest of the data ({1 - TEST_FRACTION - VAL_FRACTION:.0%})",
                "val": f"{VAL_FRACTION:.0%} of the data, {drawn}", "test": f"{TEST_FRACTION:.0%} of the data, {drawn}"}
    out = {split: (f"the folder {folders[split]}/" if split in folders else "given by the data")
           for split in SPLITS if split in given}
    fractions = {"val": VAL_FRACTION, "test": TEST_FRACTION}
    for split in SPLITS:
        if split not in given:
            out[split] = f"{fractions[split]:.0%} of train, {drawn}"
            out["train"] += f", less the {split} samples"
    return {split: out[split] for split in SPLITS}


def _source_of(dataset: DatasetSpec, path: str | Path | None, options) -> Source:
    if path is not None:
        return read_source(path, _options(options))
    raw = dataset.load()
    splits = dict(raw) if isinstance(raw, dict) else {"all": raw}
    return Source(splits, "dataset", dataset.layout, class_names=tuple(dataset.class_names),
                  preprocessing={"source_format": f"dataset {dataset.name}", **dataset.raw_input})


def load_data(dataset: DatasetSpec, needs_labels: bool, path: str | Path | None = None,
              options: ReadOptions | Mapping[str, Any] | None = None) -> Data:
    """The dataset's split data, or the user's data at ``path`` read as that dataset's layout.

    ``options``: how to read data whose format leaves choices open (``zoo.sources.ReadOptions``, or a
    mapping such as a run's config, whose keys in ``zoo.sources.OPTION_HELP`` are used)."""
    where = str(path) if path is not None else dataset.name
    source = _source_of(dataset, path, options)
    if source.layout == "sequence" and dataset.layout == "image":
        raise DataError(f"{where}: holds sequences ({source.kind}); this model takes images")
    given = dict(source.splits)
    if set(given) == {"train"}:
        given = {"all": given["train"]}
    every = {k: prepare(v, dataset.layout, where, needs_labels) for k, v in given.items()}
    shapes = {v.x.shape[1:] for v in every.values()}
    if len(shapes) > 1:
        raise DataError(f"{where}: the splits' samples differ in shape ({', '.join(map(str, shapes))})")
    names = tuple(source.class_names)
    labels = [a.y for a in every.values() if a.y is not None]
    num_classes = _check_classes(np.concatenate(labels), where, names) if needs_labels else (
        len(names) or (int(max(int(y.max()) for y in labels) + 1) if labels else 0))
    if needs_labels and "all" not in every:
        missing = sorted(set(range(num_classes)) - {int(c) for c in np.unique(every["train"].y)})
        if missing:
            raise DataError(f"{where}: the train split has no sample of {listing([_class(c, names) for c in missing])}")
    train, val, test = split(every["all"] if "all" in every else every, where, names)
    lengths = [a.lengths for a in every.values() if a.lengths is not None]
    info = DataInfo(
        name=dataset.name if path is None else Path(path).name,
        layout=dataset.layout,
        sample_shape=tuple(int(d) for d in train.x.shape[1:]),
        num_classes=num_classes,
        class_names=names,
        min_length=min(int(a.min()) for a in lengths) if lengths else None,
        max_length=int(train.x.shape[1]) if lengths else None,
    )
    raw_dtype = next(iter(given.values())).x.dtype
    record = {"layout": dataset.layout, **source.preprocessing, "input_shape": list(info.sample_shape),
              "scaling": scaling(raw_dtype, dataset.layout), "class_names": list(names),
              "splits": _splits_record({k: v for k, v in every.items() if k != "all"}, source)}
    origin = dataset.source if path is None else str(Path(path).resolve())
    return Data(info=info, train=train, val=val, test=test, source=origin, sha256=_fingerprint(every, names if path is not None else ()),
                preprocessing=record, skipped=tuple(source.skipped), note=source.note)
