"""Datasets: the arrays, the fixed split every model and card uses, and user files.

A dataset reaches a model as `Data`: float32 samples in [0, 1] shaped like the model's
layout ("image": (C, H, W); "sequence": (T, F)), int64 labels, and train / val / test
splits drawn once with a fixed seed, stratified by label.
"""
from __future__ import annotations

import gzip
import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import ZooError
from zoo.specs import DatasetSpec

SPLIT_SEED = 0
TEST_FRACTION = 0.2
VAL_FRACTION = 0.1
MIN_PER_CLASS = 5


class DataError(ZooError):
    """The data cannot be used as given; the message says what to change."""


@dataclass(frozen=True)
class Arrays:
    """Samples and (optional) labels of one split."""

    x: np.ndarray
    y: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about its data to size itself."""

    name: str
    layout: str
    sample_shape: tuple[int, ...]
    num_classes: int


@dataclass(frozen=True)
class Data:
    """Loaded, validated, split data, with where it came from."""

    info: DataInfo
    train: Arrays
    val: Arrays
    test: Arrays
    source: str
    sha256: str

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


# --------------------------------------------------------------------------- files


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Read one file in the IDX format (MNIST's), gzipped or not."""
    try:
        with _open(path) as handle:
            raw = handle.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path}: truncated or oversized IDX data: header promises {expected} bytes, "
                        f"file holds {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find_one(folder: Path, prefix: str, kind: str) -> Path | None:
    matches = sorted(p for p in folder.iterdir() if p.name.startswith(prefix) and kind in p.name)
    return matches[0] if matches else None


def _idx_labels_beside(images: Path) -> Path | None:
    name = images.name.replace("images", "labels").replace("idx3", "idx1")
    candidate = images.with_name(name)
    return candidate if candidate != images and candidate.exists() else None


def load_file(path: str | Path) -> Arrays | dict[str, Arrays]:
    """Load user data: an .npz (``x``, optional ``y``), an IDX images file, or a folder of MNIST's files.

    A folder holding ``train-*`` and ``t10k-*`` IDX files keeps MNIST's own test split.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        found = {}
        for split, prefix in (("train", "train-"), ("test", "t10k-")):
            images, labels = _find_one(path, prefix, "idx3"), _find_one(path, prefix, "idx1")
            if images is None:
                continue
            found[split] = Arrays(read_idx(images), read_idx(labels) if labels else None)
        if "train" not in found:
            raise DataError(f"{path}: no train-*idx3* images file in this folder")
        return found
    if path.suffix == ".npz":
        return _load_npz(path)
    if "idx" in path.name:
        labels = _idx_labels_beside(path)
        return Arrays(read_idx(path), read_idx(labels) if labels else None)
    raise DataError(f"{path}: unsupported data file (use .npz with x and y, or MNIST's IDX files)")


def _load_npz(path: Path) -> Arrays:
    import zipfile

    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a valid .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "x" not in archive.files:
                raise DataError(f"{path}: no array named 'x' (found: {', '.join(archive.files) or 'none'})")
            return Arrays(archive["x"], archive["y"] if "y" in archive.files else None)
    except DataError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DataError(f"{path}: holds Python objects; refusing to unpickle (save plain numeric arrays)") from None
        raise DataError(f"{path}: not a valid .npz file: {exc}") from None
    except Exception as exc:  # zipfile.BadZipFile, OSError, EOFError ...
        raise DataError(f"{path}: not a valid .npz file: {type(exc).__name__}: {exc}") from None


# --------------------------------------------------------------------------- checks


def _scale(x: np.ndarray, where: str) -> np.ndarray:
    if x.dtype == np.uint8:
        return (x / 255.0).astype(np.float32)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)) or x.dtype == np.bool_:
        raise DataError(f"{where}: x has dtype {x.dtype}; expected uint8 (0-255) or floats in [0, 1]")
    x = x.astype(np.float32)
    if x.size and not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).sum())
        raise DataError(f"{where}: x holds {bad} NaN or infinite values")
    if x.size and (x.min() < 0.0 or x.max() > 1.0):
        raise DataError(f"{where}: x values must lie in [0, 1] (found {x.min():.4g} to {x.max():.4g}); "
                        f"scale them, or save uint8 pixels")
    return x


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


def _check_classes(y: np.ndarray, where: str) -> int:
    """The number of classes the labels name (0 to the largest); every one must have a sample."""
    present = np.unique(y)
    if len(present) < 2:
        raise DataError(f"{where}: every label is {int(present[0])}; a model that needs labels needs at least "
                        f"two distinct classes")
    num_classes = int(present[-1]) + 1
    empty = sorted(set(range(num_classes)) - {int(c) for c in present})
    if empty:
        raise DataError(f"{where}: labels run from 0 to {num_classes - 1} but class{'es' if len(empty) > 1 else ''} "
                        f"{_ranges(empty)} {'have' if len(empty) > 1 else 'has'} no sample; number the classes "
                        f"0 to {len(present) - 1}")
    return num_classes


def prepare(raw: Arrays, layout: str, where: str, needs_labels: bool) -> Arrays:
    """Validate and normalise one block of raw arrays; every problem is one DataError line."""
    if raw.x.ndim < 1 or raw.x.shape[0] == 0:
        raise DataError(f"{where}: x holds no samples")
    x = _shape_for(_scale(np.asarray(raw.x), where), layout, where)
    y = _labels(None if raw.y is None else np.asarray(raw.y), x.shape[0], where, needs_labels)
    return Arrays(np.ascontiguousarray(x), y)


# --------------------------------------------------------------------------- splits


def _stratified(labels: np.ndarray | None, indices: np.ndarray, fraction: float, where: str):
    from sklearn.model_selection import train_test_split

    strata = None if labels is None else labels[indices]
    if strata is not None:
        counts = np.bincount(strata)
        present = counts[counts > 0]
        if present.min() < MIN_PER_CLASS:
            cls = int(np.flatnonzero(counts == present.min())[0])
            raise DataError(f"{where}: class {cls} has {present.min()} samples; each class needs at least "
                            f"{MIN_PER_CLASS} for the stratified train/val/test split")
    try:
        return train_test_split(indices, test_size=fraction, stratify=strata, random_state=SPLIT_SEED)
    except ValueError as exc:
        raise DataError(f"{where}: cannot split {len(indices)} samples: {exc}") from None


def split(raw: Arrays | dict[str, Arrays], where: str) -> tuple[Arrays, Arrays, Arrays]:
    """The fixed seeded stratified split: 70% train, 10% val, 20% test (or a given test split)."""
    def take(a: Arrays, idx: np.ndarray) -> Arrays:
        return Arrays(a.x[idx], None if a.y is None else a.y[idx])

    if isinstance(raw, dict):
        pool, test = raw["train"], raw.get("test")
    else:
        pool, test = raw, None
    indices = np.arange(len(pool))
    if test is None:
        indices, test_idx = _stratified(pool.y, indices, TEST_FRACTION, where)
        test = take(pool, np.sort(test_idx))
    val_share = VAL_FRACTION / (1 - TEST_FRACTION) if not isinstance(raw, dict) else VAL_FRACTION
    train_idx, val_idx = _stratified(pool.y, indices, val_share, where)
    parts = take(pool, np.sort(train_idx)), take(pool, np.sort(val_idx)), test
    for name, part in zip(("train", "val", "test"), parts):
        if len(part) == 0:
            raise DataError(f"{where}: the {name} split is empty; more samples are needed")
    return parts


def _fingerprint(*arrays: np.ndarray | None) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        if a is not None:
            digest.update(str(a.shape).encode())
            digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()


def load_data(dataset: DatasetSpec, needs_labels: bool, path: str | Path | None = None) -> Data:
    """The dataset's split data, or the user's file read as that dataset's layout."""
    where = str(path) if path is not None else dataset.name
    raw = load_file(path) if path is not None else dataset.load()
    if isinstance(raw, dict):
        every = {k: prepare(v, dataset.layout, where, needs_labels) for k, v in raw.items()}
        shapes = {v.x.shape[1:] for v in every.values()}
        if len(shapes) > 1:
            raise DataError(f"{where}: train and test samples differ in shape ({', '.join(map(str, shapes))})")
    else:
        every = {"all": prepare(raw, dataset.layout, where, needs_labels)}
    labels = [a.y for a in every.values() if a.y is not None]
    num_classes = _check_classes(np.concatenate(labels), where) if needs_labels else (
        int(max(int(y.max()) for y in labels) + 1) if labels else 0)
    train, val, test = split(every if isinstance(raw, dict) else every["all"], where)
    info = DataInfo(
        name=dataset.name if path is None else Path(path).name,
        layout=dataset.layout,
        sample_shape=tuple(int(d) for d in train.x.shape[1:]),
        num_classes=num_classes,
    )
    fingerprint = _fingerprint(*[a for part in every.values() for a in (part.x, part.y)])
    source = dataset.source if path is None else str(Path(path).resolve())
    return Data(info=info, train=train, val=val, test=test, source=source, sha256=fingerprint)
