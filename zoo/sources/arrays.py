"""Data already held as arrays: ``.npz`` (``x``, optional ``y``, ``lengths`` and ``class_names``) and
files in MNIST's IDX format (one file, or a folder of MNIST's four).

Imports: numpy, the standard library, ``zoo.sources.common``.
"""
from __future__ import annotations

import gzip
import struct
import zipfile
from pathlib import Path

import numpy as np

from zoo.sources.common import Arrays, DataError, Source, encode_labels

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


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


def is_idx(path: Path) -> bool:
    return "idx" in path.name


def _find_one(folder: Path, prefix: str, kind: str) -> Path | None:
    matches = sorted(p for p in folder.iterdir() if p.name.startswith(prefix) and kind in p.name)
    return matches[0] if matches else None


def _idx_labels_beside(images: Path) -> Path | None:
    name = images.name.replace("images", "labels").replace("idx3", "idx1")
    candidate = images.with_name(name)
    return candidate if candidate != images and candidate.exists() else None


def read_idx_file(path: Path) -> Source:
    """One IDX images file, with its labels file when one lies beside it."""
    labels = _idx_labels_beside(path)
    return Source({"all": Arrays(read_idx(path), read_idx(labels) if labels else None)}, "idx",
                  preprocessing={"source_format": "IDX"})


def is_mnist_folder(folder: Path) -> bool:
    return _find_one(folder, "train-", "idx3") is not None


def read_mnist_folder(folder: Path) -> Source:
    """A folder of MNIST's files: ``train-*idx3*`` (and ``t10k-*``), keeping MNIST's own test split."""
    found = {}
    for split, prefix in (("train", "train-"), ("test", "t10k-")):
        images, labels = _find_one(folder, prefix, "idx3"), _find_one(folder, prefix, "idx1")
        if images is not None:
            found[split] = Arrays(read_idx(images), read_idx(labels) if labels else None)
    if "train" not in found:
        raise DataError(f"{folder}: no train-*idx3* images file in this folder")
    return Source(found, "idx", preprocessing={"source_format": "IDX (MNIST's files)"})


def _lengths(lengths: np.ndarray, x: np.ndarray, path: Path) -> np.ndarray:
    if x.ndim != 3:
        raise DataError(f"{path}: 'lengths' is given, so x must hold sequences (N, T, F); it has shape {x.shape}")
    if lengths.shape != (x.shape[0],) or not np.issubdtype(lengths.dtype, np.integer):
        raise DataError(f"{path}: 'lengths' must be {x.shape[0]} whole numbers, one per sequence "
                        f"(shape {lengths.shape}, dtype {lengths.dtype})")
    if len(lengths) and (lengths.min() < 1 or lengths.max() > x.shape[1]):
        raise DataError(f"{path}: 'lengths' must lie in 1..{x.shape[1]} (the padded length); found "
                        f"{lengths.min()} to {lengths.max()}")
    return lengths.astype(np.int64)


def _named_labels(archive, path: Path) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """``y`` as class indices: text labels in natural order, or integers named by ``class_names``."""
    if "y" not in archive.files:
        return None, ()
    y = archive["y"]
    if y.dtype.kind == "U":
        if y.ndim != 1:
            raise DataError(f"{path}: y has shape {y.shape}; expected one label per sample")
        return encode_labels([str(v) for v in y])
    names: tuple[str, ...] = ()
    if "class_names" in archive.files:
        given = archive["class_names"]
        if given.dtype.kind != "U" or given.ndim != 1:
            raise DataError(f"{path}: class_names must be a 1-D array of text (dtype {given.dtype}, shape "
                            f"{given.shape})")
        names = tuple(str(v) for v in given)
        if len(set(names)) != len(names):
            raise DataError(f"{path}: class_names repeats a name")
    return y, names


def read_npz(path: Path) -> Source:
    """An .npz with ``x`` and optional ``y`` (integers or text), ``lengths`` (sequences padded after their
    ends) and ``class_names`` (the names of integer labels, in index order); never unpickled."""
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a valid .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "x" not in archive.files:
                raise DataError(f"{path}: no array named 'x' (found: {', '.join(archive.files) or 'none'})")
            x = archive["x"]
            y, names = _named_labels(archive, path)
            lengths = _lengths(archive["lengths"], x, path) if "lengths" in archive.files else None
    except DataError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DataError(f"{path}: holds Python objects; refusing to unpickle (save plain numeric arrays)") from None
        raise DataError(f"{path}: not a valid .npz file: {exc}") from None
    except Exception as exc:  # zipfile.BadZipFile, OSError, EOFError ...
        raise DataError(f"{path}: not a valid .npz file: {type(exc).__name__}: {exc}") from None
    record = {"source_format": "npz"}
    if lengths is not None:
        record["padding"] = "as stored: each sequence is read up to its length"
    return Source({"all": Arrays(x, y, lengths)}, "npz", "sequence" if lengths is not None else None, names,
                  record)
