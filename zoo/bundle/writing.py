"""What `zoo predict` writes: a graph's raw outputs as tensors, and images (reconstructions, generated
samples) as PNG files a person can open. Imports numpy, Pillow (for images) and ``zoo.bundle``; no torch."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from zoo.bundle import BundleError
from zoo.fsutil import atomic_write

MIN_SIDE = 64  # pixels: a small image (8x8 digits) is enlarged, by whole pixels, to at least this


def save_outputs(outputs: dict[str, np.ndarray], path: str | Path) -> None:
    """An .npy for one output, else an .npz of all of them by name (written atomically)."""
    path = Path(path)
    if path.suffix == ".npy" and len(outputs) != 1:
        raise BundleError(f"{path}: the graph has {len(outputs)} outputs; write an .npz instead")

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a file object: numpy adds no suffix to the temporary name
            np.save(handle, next(iter(outputs.values()))) if path.suffix == ".npy" else np.savez(handle, **outputs)

    atomic_write(path, write)


def to_picture(sample: np.ndarray, record: Mapping[str, Any]):
    """One sample (C, H, W) or (H, W) in [0, 1] as a Pillow image, by the inverse of the bundle's image rule
    (inverted back where files have dark ink), enlarged by whole pixels to at least ``MIN_SIDE``."""
    from PIL import Image

    pixels = np.clip(np.asarray(sample, dtype=np.float64), 0.0, 1.0)
    pixels = pixels[None] if pixels.ndim == 2 else pixels
    if pixels.ndim != 3 or pixels.shape[0] not in (1, 3):
        raise BundleError(f"an output shaped {tuple(sample.shape)} is not an image (channels, height, width)")
    values = np.rint(pixels * 255).astype(np.uint8)
    if record.get("invert"):
        values = 255 - values
    image = Image.fromarray(values[0] if values.shape[0] == 1 else values.transpose(1, 2, 0))
    scale = max(1, -(-MIN_SIDE // min(image.size)))
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)


def save_images(samples: np.ndarray, out: str | Path, record: Mapping[str, Any], names: list[str] | None = None,
                force: bool = False) -> list[Path]:
    """``samples`` as PNG files: ``out`` ending in .png is one grid (up to 8 per row), any other ``out`` a
    folder of one file per sample (``names`` or sample-0.png ...). Nothing is overwritten without ``force``."""
    from PIL import Image

    out = Path(out)
    pictures = [to_picture(s, record) for s in samples]
    if out.suffix.lower() == ".png":
        targets = [out]
        columns = min(8, len(pictures))
        rows = -(-len(pictures) // columns)
        width, height = pictures[0].size
        grid = Image.new(pictures[0].mode, (columns * (width + 2) - 2, rows * (height + 2) - 2),
                         255 if record.get("invert") else 0)
        for index, picture in enumerate(pictures):
            grid.paste(picture, ((index % columns) * (width + 2), (index // columns) * (height + 2)))
        writes = [(out, grid)]
    else:
        stems = [Path(n).stem for n in names] if names else [f"sample-{i}" for i in range(len(pictures))]
        if len(set(stems)) != len(stems):
            stems = [f"{i}-{stem}" for i, stem in enumerate(stems)]
        writes = [(out / f"{stem}.png", picture) for stem, picture in zip(stems, pictures)]
        targets = [target for target, _ in writes]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        raise BundleError(f"{existing[0]} already exists; choose another --out or pass --force to replace it")
    for target, picture in writes:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda tmp, picture=picture: picture.save(tmp, format="PNG"))
    return targets
