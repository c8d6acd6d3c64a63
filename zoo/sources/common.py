"""What every reader of zoo.sources shares: the error, the arrays, the result, the reading options, and
the rules for names (hidden files, natural order, short lists of offenders) and for pixel scaling.

Imports: numpy, the standard library and ``zoo.errors``; nothing else (no Pillow: this module is light).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from zoo.config import DATA_KEYS
from zoo.errors import ZooError

PIXEL_SCALE = 255.0
SCALING = "x / 255 to float32 in [0, 1]"
NO_SCALING = "none: values as stored (float32)"
LIST_LIMIT = 12  # offenders named in one error line before "... and N more"
# Operating-system litter that is never data, beside every name starting with '.' (.DS_Store,
# .ipynb_checkpoints, macOS's ._* AppleDouble files): Windows' thumbnails and folder settings, and the
# folder macOS's zip tool adds.
SYSTEM_LITTER = frozenset({"thumbs.db", "desktop.ini", "__macosx"})


class DataError(ZooError):
    """The data cannot be used as given; the message says what to change."""


@dataclass(frozen=True)
class Arrays:
    """Samples, (optional) labels and (optional) sequence lengths of one split.

    ``lengths`` (int64, one per sample) is given for sequences of different lengths: each sample is
    padded with zeros after its own length to the longest; ``None`` means every sample is whole.
    """

    x: np.ndarray
    y: np.ndarray | None = None
    lengths: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, index: np.ndarray) -> Arrays:
        """The samples at ``index``, with their labels and lengths."""
        return Arrays(self.x[index], None if self.y is None else self.y[index],
                      None if self.lengths is None else self.lengths[index])


@dataclass(frozen=True)
class Source:
    """What a reader found at a path.

    ``splits``: ``{"all": arrays}`` for one pool, else some of ``train``, ``val``, ``test`` as the
    data itself splits them. ``layout``: "image" or "sequence" where the format says so, ``None``
    where only the array shapes do (.npz, IDX). ``preprocessing``: a JSON-able record of what was done
    to the raw data. ``skipped``: damaged files left out (relative paths). ``key``: the content key of
    the cache, if any. ``note``: one line saying how the data was read (decoded, or from the cache).
    """

    splits: Mapping[str, Arrays]
    kind: str
    layout: str | None = None
    class_names: tuple[str, ...] = ()
    preprocessing: Mapping[str, Any] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    key: str = ""
    note: str = ""


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DataError(f"{name}: {value!r} is not a positive whole number")
    return int(value)


def _size(value: Any) -> tuple[int, int] | None:
    """``image_size``: N (N x N), [H, W], "N" or "HxW"; ``None``/0 for "keep the images' own size"."""
    if value is None or value == 0 or value == "":
        return None
    if isinstance(value, str):
        parts = [p for p in re.split(r"[x,\[\]\s]+", value.strip().lower()) if p]
        value = parts[0] if len(parts) == 1 else parts
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise DataError(f"image_size: {list(value)!r} must be one number N (N x N) or two, [height, width]")
        return _positive_int("image_size", value[0]), _positive_int("image_size", value[1])
    side = _positive_int("image_size", value)
    return side, side


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "1", "yes", "on", "false", "0", "no", "off"}:
        return value.strip().lower() in {"true", "1", "yes", "on"}
    raise DataError(f"{name}: {value!r} is not true or false")


@dataclass(frozen=True)
class ReadOptions:
    """How to read data whose format leaves choices open (today: image folders).

    ``image_size``: (H, W) every image is resized to, ``None`` to keep the images' one common size.
    ``resample``: Pillow's filter for that resize. ``image_mode``: "auto" (grey when every image is grey,
    else RGB), "grey" or "rgb". ``max_image_pixels``: images with more pixels are refused (Pillow's
    decompression-bomb limit; ``None``: Pillow's own ``Image.MAX_IMAGE_PIXELS``). ``skip_damaged``:
    leave out images that do not decode, and list them, instead of refusing the folder. ``cache``:
    keep the decoded arrays under ``$ZOO_HOME/data-cache`` and reuse them while the files are unchanged.
    ``invert``: 255 minus every value (dark ink on paper read for a model that learnt bright ink).
    """

    image_size: tuple[int, int] | None = None
    resample: str = "bilinear"
    image_mode: str = "auto"
    max_image_pixels: int | None = None
    skip_damaged: bool = False
    cache: bool = True
    invert: bool = False

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> ReadOptions:
        """The options named in ``values`` (other keys are ignored: a run's config holds the model's too);
        a bad value is one DataError line naming the option."""
        values = {k: v for k, v in (values or {}).items() if k in OPTION_HELP}
        out: dict[str, Any] = {}
        if "image_size" in values:
            out["image_size"] = _size(values["image_size"])
        for name in ("resample", "image_mode"):
            if name in values:
                if not isinstance(values[name], str):
                    raise DataError(f"{name}: {values[name]!r} is not a name")
                out[name] = values[name].strip().lower()
        if "image_mode" in out:
            out["image_mode"] = {"gray": "grey", "l": "grey", "colour": "rgb", "color": "rgb"}.get(
                out["image_mode"], out["image_mode"])
            if out["image_mode"] not in IMAGE_MODES:
                raise DataError(f"image_mode: {values['image_mode']!r} is not one of {', '.join(IMAGE_MODES)}")
        if values.get("max_image_pixels") not in (None, 0, ""):
            out["max_image_pixels"] = _positive_int("max_image_pixels", values["max_image_pixels"])
        for name in ("skip_damaged", "cache", "invert"):
            if name in values:
                out[name] = _flag(name, values[name])
        return cls(**out)


IMAGE_MODES = ("auto", "grey", "rgb")
OPTION_HELP = DATA_KEYS  # the options' descriptions, where the config's keys are described (zoo.config)


# --------------------------------------------------------------------------- names


def is_hidden(name: str) -> bool:
    """Never data: names starting with '.', and the operating systems' litter (SYSTEM_LITTER)."""
    return name.startswith(".") or name.lower() in SYSTEM_LITTER


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def natural_key(text: str) -> tuple:
    """Order names as people do: numbers by value ('2' before '10', '-1' before '1'), then text,
    case-insensitively, with runs of digits by value ('img2' before 'img10'); ties by the name itself."""
    value = _number(text.strip())
    if value is not None:
        return (0, value, (), text)
    chunks = tuple((0, int(part), "") if part.isdigit() else (1, 0, part.casefold())
                   for part in re.split(r"(\d+)", text) if part)
    return (1, 0.0, chunks, text)


def natural_sorted(names: Iterable[str]) -> list[str]:
    return sorted(names, key=natural_key)


def encode_labels(labels: Sequence[str], declared: Iterable[str] | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Text labels as int64 class indices and the class names in index order (natural order).

    ``declared``: the class list a file's header names; every label must be one of them, and each
    declared class keeps its index even where no sample has it.
    """
    names = tuple(natural_sorted(set(declared if declared is not None else labels)))
    index = {name: i for i, name in enumerate(names)}
    return np.fromiter((index[label] for label in labels), dtype=np.int64, count=len(labels)), names


def listing(items: Sequence[str], limit: int = LIST_LIMIT) -> str:
    """'a, b, c', or the first ``limit`` and '... and N more' when there are many."""
    items = list(items)
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" ... and {len(items) - limit} more"


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 image', '3 images'."""
    return f"{count} {word if count == 1 else many or word + 's'}"


# --------------------------------------------------------------------------- values


def pixels_to_float(x: np.ndarray) -> np.ndarray:
    """uint8 pixels as the float32 a model reads: x / 255, in [0, 1] (the one place this rule lives)."""
    return (x / PIXEL_SCALE).astype(np.float32)


def check_finite(x: np.ndarray, where: str) -> None:
    if x.size and not np.isfinite(x).all():
        raise DataError(f"{where}: x holds {int((~np.isfinite(x)).sum())} NaN or infinite values")


def pad_sequences(cases: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
    """(T_i, F) float arrays as one (N, T_max, F) float32 array, zero after each case's end, and the
    int64 lengths; lengths are ``None`` when every case has the same length."""
    lengths = np.array([len(c) for c in cases], dtype=np.int64)
    features = cases[0].shape[1] if cases else 0
    x = np.zeros((len(cases), int(lengths.max()) if len(cases) else 0, features), dtype=np.float32)
    for i, case in enumerate(cases):
        x[i, : len(case)] = case
    return x, (None if len(cases) == 0 or lengths.min() == lengths.max() else lengths)
