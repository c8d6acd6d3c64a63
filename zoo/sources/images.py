"""One image file to the array a model reads, by a declared rule: the one decode function that training
and deployment both call, so a deployed model sees its inputs exactly as it saw them in training.

The steps, in this order: a full decode (``Image.open`` is lazy and ``verify()`` passes a truncated
JPEG, so only ``load()`` finds the damage), refusing images above the decompression-bomb limit
before they are decoded, EXIF orientation (``ImageOps.exif_transpose``), colour (alpha composited on
white, palette images through RGBA, 16-bit grey scaled to 8 bits, then grey or RGB), resize to the
rule's size with its filter, and the (C, H, W) uint8 array; the model reads it as x / 255.

Imports: numpy, Pillow, the standard library, ``zoo.sources.common``.
"""
from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Mapping

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from zoo.errors import one_line
from zoo.sources.common import IMAGE_MODES, SCALING, DataError, ReadOptions, pixels_to_float

RESAMPLE = {member.name.lower(): member for member in Image.Resampling}
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N"})
SIXTEEN_BIT = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
WHITE = 255
ORIENTATION = 0x0112  # the EXIF tag; exif_transpose is called only where it is set
ALPHA = "composited on white (255): a transparent pixel reads as white"
PALETTE = "converted through RGBA (so palette transparency is composited on white too)"
HIGH_BIT_DEPTH = "16-bit grey scaled to 8 bits: round(x * 255 / 65535)"
EXIF = "applied (PIL.ImageOps.exif_transpose) before any other step"
BOMB = "refused above max_image_pixels, before decoding (where Pillow itself warns)"


class DamagedImage(DataError):
    """A file that does not decode as an image; ``reason`` is a few words for the list of bad files."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.reason = reason


class ImageTooLarge(DataError):
    """An image above the decompression-bomb limit; ``size`` is (width, height)."""

    def __init__(self, name: str, size: tuple[int, int], limit: int) -> None:
        width, height = size
        super().__init__(f"{name}: {width}x{height} = {width * height:,} pixels, above the decompression-bomb "
                         f"limit of {limit:,} pixels")
        self.size, self.limit = size, limit


@dataclass(frozen=True)
class ImageRule:
    """How a file becomes an array: colour ``mode`` ("grey", "rgb", or "auto": an image's own, grey or
    RGB, for a reader that then makes a folder one), ``size`` (height, width) or ``None`` to keep each
    image's size, Pillow's ``resample`` filter, and the decompression-bomb limit (``max_pixels``,
    ``None``: Pillow's ``Image.MAX_IMAGE_PIXELS`` when the rule is made). ``invert``: 255 minus every
    value, for a dataset whose ink is bright (scikit-learn's digits) read from files where it is dark
    (a digit written on paper)."""

    mode: str = "auto"
    size: tuple[int, int] | None = None
    resample: str = "bilinear"
    max_pixels: int | None = None
    invert: bool = False

    def __post_init__(self) -> None:
        if self.mode not in IMAGE_MODES:
            raise DataError(f"image_mode: {self.mode!r} is not one of {', '.join(IMAGE_MODES)}")
        if self.resample not in RESAMPLE:
            raise DataError(f"resample: {self.resample!r} is not one of Pillow's filters: {', '.join(RESAMPLE)}")
        if self.max_pixels is None:
            object.__setattr__(self, "max_pixels", Image.MAX_IMAGE_PIXELS or 0)
        if self.size is not None:
            object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))

    @classmethod
    def from_options(cls, options: ReadOptions) -> ImageRule:
        return cls(options.image_mode, options.image_size, options.resample, options.max_image_pixels, options.invert)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ImageRule:
        """The rule a preprocessing record (``image_record``) states: what deployment decodes by."""
        try:
            size = record["image_size"]
            return cls(record["color_mode"], None if size is None else (size[0], size[1]), record["resample"],
                       record.get("max_image_pixels"), bool(record.get("invert", False)))
        except (KeyError, TypeError, IndexError) as exc:
            raise DataError(f"the preprocessing record is not an image record ({one_line(exc)})") from None

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "size": None if self.size is None else list(self.size),
                "resample": self.resample, "max_pixels": self.max_pixels, "invert": self.invert}


@dataclass(frozen=True)
class Decoded:
    """One decoded image: the (C, H, W) uint8 array, and what the file held (mode, format)."""

    array: np.ndarray
    source_mode: str
    source_format: str


def _grey_palette(image: Image.Image) -> bool:
    palette = image.getpalette() or []
    return bool(palette) and all(palette[i] == palette[i + 1] == palette[i + 2] for i in range(0, len(palette) - 2, 3))


def is_grey(image: Image.Image) -> bool:
    """Grey by its mode ('1', 'L', 'LA', 16-bit), or a palette image whose colours are all grey."""
    return image.mode in GREY_MODES or (image.mode in ("P", "PA") and _grey_palette(image))


def _on_white(image: Image.Image) -> Image.Image:
    """RGBA composited on an opaque white background, as RGB."""
    background = Image.new("RGBA", image.size, (WHITE, WHITE, WHITE, 255))
    return Image.alpha_composite(background, image).convert("RGB")


def _colour(image: Image.Image, grey: bool) -> Image.Image:
    """Mode 'L' (grey) or 'RGB', by the steps the module docstring lists."""
    mode = image.mode
    if mode in SIXTEEN_BIT:
        wide = np.clip(np.asarray(image, dtype=np.int64), 0, 65535)
        image = Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8))
    elif mode in ("P", "PA", "RGBA", "RGBa", "LA", "La") or "transparency" in image.info:  # alpha, or a colour key
        image = _on_white(image.convert("RGBA"))
    elif mode == "F":
        raise ValueError("32-bit floating-point pixels (save the image with 8- or 16-bit pixels)")
    target = "L" if grey else "RGB"
    return image if image.mode == target else image.convert(target)


def _open(file: str | Path | bytes | BinaryIO) -> Image.Image:
    return Image.open(io.BytesIO(file) if isinstance(file, (bytes, bytearray, memoryview)) else file)


@contextlib.contextmanager
def pillow_limit(rule: ImageRule) -> Iterator[None]:
    """Pillow refuses (at open) images above twice its own ``Image.MAX_IMAGE_PIXELS`` and warns above
    it: while files are decoded by ``rule``, that global follows the rule's limit, which ``decode_within``
    checks itself, before decoding."""
    before = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = rule.max_pixels or None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = before


def decode(file: str | Path | bytes | BinaryIO, rule: ImageRule, name: str | None = None) -> Decoded:
    """Decode one file by ``rule``; a file that is not a whole image is ``DamagedImage``, one above the
    bomb limit ``ImageTooLarge`` (both name ``name``, else the path)."""
    with pillow_limit(rule):
        return decode_within(file, rule, name)


def decode_within(file: str | Path | bytes | BinaryIO, rule: ImageRule, name: str | None = None) -> Decoded:
    """``decode`` for a caller that decodes many files inside one ``pillow_limit(rule)``."""
    name = name or (str(file) if isinstance(file, (str, Path)) else "the image")
    try:
        with _open(file) as image:
            width, height = image.size
            if rule.max_pixels and width * height > rule.max_pixels:
                raise ImageTooLarge(name, image.size, rule.max_pixels)
            source_mode, source_format = image.mode, image.format or "unknown"
            image.load()
            if image.getexif().get(ORIENTATION, 1) != 1:
                ImageOps.exif_transpose(image, in_place=True)
            grey = rule.mode == "grey" or (rule.mode == "auto" and is_grey(image))
            image = _colour(image, grey)
            if rule.size is not None and image.size != (rule.size[1], rule.size[0]):
                image = image.resize((rule.size[1], rule.size[0]), resample=RESAMPLE[rule.resample])
            pixels = np.asarray(image, dtype=np.uint8)
            if rule.invert:
                pixels = 255 - pixels
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DamagedImage(name, "not an image Pillow can read") from None
    except FileNotFoundError:
        raise DamagedImage(name, "no such file") from None
    except MemoryError:
        raise
    except Exception as exc:  # untrusted bytes: Pillow's decoders raise OSError, SyntaxError, ValueError ...
        text = str(exc).strip().splitlines()
        reason = "truncated" if text and "truncated" in text[0] else f"does not decode ({one_line(exc)})"
        raise DamagedImage(name, reason) from None
    array = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    return Decoded(np.ascontiguousarray(array), source_mode, source_format)


def decode_image(file: str | Path | bytes | BinaryIO, rule: ImageRule) -> np.ndarray:
    """The (C, H, W) uint8 array of one image file (a path, its bytes or an open binary file) by ``rule``."""
    return decode(file, rule).array


def image_input(file: str | Path | bytes | BinaryIO, record: Mapping[str, Any]) -> np.ndarray:
    """What a model trained on an image folder reads for one file: the (C, H, W) float32 array in [0, 1]
    made by the preprocessing record's rule (``zoo predict`` calls this)."""
    return pixels_to_float(decode_image(file, ImageRule.from_record(record)))


def image_record(rule: ImageRule, shape: tuple[int, int, int], class_names: tuple[str, ...],
                 declared: ReadOptions, modes: Mapping[str, int], formats: Mapping[str, int]) -> dict[str, Any]:
    """The preprocessing record of an image folder read by ``rule`` (``rule.mode`` and ``rule.size``
    resolved: what deployment must do), in the spirit of timm's pretrained_cfg and Hugging Face's
    preprocessor_config. ``declared``: the options as the user gave them."""
    channels, height, width = shape
    return {
        "layout": "image",
        "source_format": "image folder",
        "decoder": f"Pillow {Image.__version__}",
        "input_shape": [channels, height, width],
        "array": "uint8 (N, C, H, W), read by the model as float32",
        "color_mode": rule.mode,
        "color_rule": declared.image_mode if declared.image_mode != "auto" else (
            f"auto: {'RGB, as some images are in colour' if rule.mode == 'rgb' else 'grey, as every image is grey'}"),
        "alpha": ALPHA,
        "palette": PALETTE,
        "high_bit_depth": HIGH_BIT_DEPTH,
        "exif_orientation": EXIF,
        "image_size": [height, width],
        "size_rule": "image_size, as given" if declared.image_size else "the images' one common size",
        "resample": rule.resample,
        "resample_code": int(RESAMPLE[rule.resample]),
        "max_image_pixels": rule.max_pixels,
        "invert": rule.invert,
        "decompression_bomb": BOMB,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "scaling": SCALING,
        "normalize": None,
        "class_names": list(class_names),
        "source_modes": dict(sorted(modes.items())),
        "source_formats": dict(sorted(formats.items())),
    }
