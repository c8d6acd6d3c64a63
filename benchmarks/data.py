"""Reading an image folder: zoo's first read and cached read against Pillow's own decode, and an epoch
over the cached arrays against the same arrays from an .npz.

Two folders of PNGs are written in a temporary directory (by default 5,000 28x28 grey images and 1,000
64x64 RGB images, 10 classes each). For each, images per second:
* pillow_loop: Image.open + load + numpy array of every file in a plain loop, one core (the limit);
* zoo_first_read: zoo.sources' first read, with an empty cache (scan, content key, full decode by the
  colour and size rule, cache write);
* zoo_cached_read: the second read of the unchanged folder (scan, content key, one .npz load).
Then zoo.data.load_data of the folder (from the cache) and of an .npz holding the same arrays, and one
epoch over each training split (shuffled batches of 128, gathered as a data loader does, through a
linear classifier's forward pass and loss; the two timed in turn, median of 10 x repeats): target, the
cached folder's epoch within 10 % of the .npz's.
Run: python benchmarks/data.py [--grey N] [--rgb N] [--repeats R]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import report  # noqa: E402

from zoo.data import load_data  # noqa: E402
from zoo.registry import get_dataset  # noqa: E402
from zoo.sources.folders import read_image_folder  # noqa: E402

CLASSES = 10
BATCH = 128


def write_folder(root: Path, count: int, size: int, rgb: bool, seed: int) -> list[Path]:
    """``count`` PNGs in ``CLASSES`` class folders: smooth shapes plus noise, so they compress like images."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    paths = []
    for i in range(count):
        label = i % CLASSES
        base = 127 + 100 * np.sin(2 * np.pi * (label + 1) * (xx + yy * rng.random()))
        pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
        if rgb:
            pixels = np.stack([pixels, np.roll(pixels, 3, axis=0), 255 - pixels], axis=-1)
        path = root / f"class{label}" / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def pillow_loop(paths: list[Path]) -> float:
    start = time.perf_counter()
    for path in paths:
        with Image.open(path) as image:
            image.load()
            np.asarray(image)
    return time.perf_counter() - start


def timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def epoch_seconds(x: np.ndarray, y: np.ndarray, seed: int) -> float:
    """One shuffled pass in batches, each gathered as a data loader does and fed to a linear classifier's
    forward pass and softmax cross-entropy (numpy, one BLAS thread)."""
    weights = np.random.default_rng(0).normal(0, 0.01, (int(np.prod(x.shape[1:])), CLASSES)).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(x))
    start = time.perf_counter()
    total = 0.0
    for i in range(0, len(order), BATCH):
        index = order[i: i + BATCH]
        logits = x[index].reshape(len(index), -1) @ weights
        logits -= logits.max(axis=1, keepdims=True)
        total += float((np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(len(index)), y[index]]).sum())
    return time.perf_counter() - start


def epochs_alternating(a, b, repeats: int) -> tuple[float, float]:
    """Median epoch times of two datasets, timed in turn so that a busy machine slows both alike."""
    times_a, times_b = [], []
    for seed in range(repeats):
        times_a.append(epoch_seconds(a.train.x, a.train.y, seed))
        times_b.append(epoch_seconds(b.train.x, b.train.y, seed))
    return statistics.median(times_a), statistics.median(times_b)


def measure(name: str, root: Path, paths: list[Path], repeats: int) -> tuple[list[list], list[list]]:
    pillow_loop(paths)  # the files are in the page cache for every reader alike
    pillow = min(pillow_loop(paths) for _ in range(repeats))
    home = root.parent / f"home-{name}"
    firsts, cached = [], []
    for r in range(repeats):
        os.environ["ZOO_HOME"] = str(home / str(r))  # an empty cache each time
        seconds, first = timed(lambda: read_image_folder(root))
        firsts.append(seconds)
        seconds, again = timed(lambda: read_image_folder(root))
        assert again.note.startswith("read from the cache"), again.note
        cached.append(seconds)
    n = len(paths)
    reads = [[name, "pillow_loop", n, min([pillow]), n / pillow, 1.0],
             [name, "zoo_first_read", n, min(firsts), n / min(firsts), pillow / min(firsts)],
             [name, "zoo_cached_read", n, min(cached), n / min(cached), pillow / min(cached)]]

    dataset = get_dataset("digits")
    load_data(dataset, True)  # imports (scikit-learn's splitter) paid before either timing
    folder_s, from_folder = timed(lambda: load_data(dataset, True, root))
    pool = first.splits["all"]
    npz = root.parent / f"{name}.npz"
    np.savez(npz, x=pool.x, y=pool.y)
    npz_s, from_npz = timed(lambda: load_data(dataset, True, npz))
    assert np.array_equal(from_folder.train.x, from_npz.train.x), "the same arrays either way"
    folder_epoch, npz_epoch = epochs_alternating(from_folder, from_npz, repeats * 10)
    epochs = [[name, "folder (cached)", folder_s, folder_epoch, folder_epoch / npz_epoch],
              [name, "npz", npz_s, npz_epoch, 1.0]]
    return reads, epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grey", type=int, default=5000, help="28x28 grey PNGs")
    parser.add_argument("--rgb", type=int, default=1000, help="64x64 RGB PNGs")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each timing (the best, or the median)")
    args = parser.parse_args()
    threadpool_limits(1)  # one core for every reader and pass: the machine may be shared
    reads, epochs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, count, size, rgb in (("grey28", args.grey, 28, False), ("rgb64", args.rgb, 64, True)):
            root = Path(tmp) / name
            paths = write_folder(root, count, size, rgb, seed=size)
            r, e = measure(name, root, paths, args.repeats)
            reads += r
            epochs += e
    report("data", ["folder", "reader", "images", "seconds", "images_per_s", "vs_pillow"], reads,
           {"epochs": {"columns": ["folder", "source", "load_data_s", "epoch_s", "vs_npz"],
                       "rows": epochs, "batch": BATCH}})
    from zoo.cli import table

    print()
    print(table(["folder", "source", "load_data_s", "epoch_s", "vs_npz"],
                [[c if not isinstance(c, float) else f"{c:.4g}" for c in row] for row in epochs]))


if __name__ == "__main__":
    main()
