"""Data as people hold it, read to numpy arrays without torch: image folders, ``.ts`` and CSV sequences,
``.npz`` and MNIST's IDX files. Training reads through here (``zoo.data``), and so does the deployer's
path (``zoo predict``), which never imports torch.

``read_source(path, options)`` reads whatever ``path`` is; the modules each read one kind:
``folders`` (image folders, with ``images``, the one decode function, and ``cache``, the decoded-array
cache), ``sequences`` (.ts, CSV) and ``arrays`` (.npz, IDX). ``common`` holds what they share:
``DataError``, ``Arrays``, ``Source``, ``ReadOptions``.

Layer: base. Imports from zoo: ``zoo.errors`` and ``zoo.fsutil`` only (``zoo.data`` imports this
package, never the other way); otherwise numpy, Pillow and the standard library.
"""
from __future__ import annotations

from pathlib import Path

from zoo.sources.common import OPTION_HELP, Arrays, DataError, ReadOptions, Source

__all__ = ["OPTION_HELP", "Arrays", "DataError", "ReadOptions", "Source", "read_source"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".jp2", ".avif"})
SUPPORTED = ("an image folder (one subfolder per class), a .csv or .ts of sequences, an .npz (x, y), or MNIST's "
             "IDX files")
_MAGIC = ((b"PK\x03\x04", "a zip archive: unpack it and give the folder"),
          (b"\x1f\x8b", "a gzip file"), (b"%PDF", "a PDF document"), (b"\x89PNG", "an image (PNG)"),
          (b"\xff\xd8\xff", "an image (JPEG)"))


def describe_file(path: Path) -> str:
    """What a file of a kind zoo does not read seems to be, in a few words (for the error line)."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return f"an image ({path.suffix.lower()}): give the folder that holds the class folders"
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError:
        head = b""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    return f"a {path.suffix} file" if path.suffix else "a file without a suffix"


def read_source(path: str | Path, options: ReadOptions | None = None) -> Source:
    """Read the data at ``path`` by what it is; each problem is one DataError line."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        from zoo.sources import arrays, folders, sequences

        if arrays.is_mnist_folder(path):
            return arrays.read_mnist_folder(path)
        found = sequences.read_ts_folder(path)
        return found if found is not None else folders.read_image_folder(path, options)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        from zoo.sources.arrays import read_npz

        return read_npz(path)
    if suffix in (".csv", ".ts"):
        from zoo.sources.sequences import read_csv, read_ts_file

        return read_csv(path) if suffix == ".csv" else read_ts_file(path)
    from zoo.sources import arrays

    if arrays.is_idx(path):
        return arrays.read_idx_file(path)
    raise DataError(f"{path}: unsupported data file ({describe_file(path)}); zoo reads {SUPPORTED}")
