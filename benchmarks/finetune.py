"""Fine-tuning a published model (``zoo train --init``) against training the same network from scratch.

Two small tasks, written as image folders with train/, val/ and test/ split folders (so the three modes train
and test on exactly the same files), each with few training images per class, as a researcher's own folder is:

* digits-017: the digits 0, 1 and 7 (three classes, another head than the published model's ten), taken from
  the built-in digits' validation and test splits as zoo cuts them (54 per class), i.e. images the published
  cnn-digits never trained on, written as 8x8 grey PNGs. Near the source domain: its features should help.
* photo-patches: 32x32 patches of scikit-learn's two sample photographs (a temple in China, a flower), two
  classes, read as 8x8 grey by the folder rule (``--set image_size=8 image_mode=grey``). Far from the source
  domain: digit strokes may not help at all, and the table says so if they do not.

For each task, training-set size (images per class) and seed: cnn-digits with its default config from scratch,
with ``--init cnn-digits`` (the published weights, head made afresh), and with ``--init cnn-digits --freeze``
(the head alone trains). Test accuracy on the task's test folder, mean and range over the seeds,
and training seconds. One thread.
(The test folders hold 30 images per class, the validation folders 4.)
Run: python benchmarks/finetune.py [--seeds 0,1,2] [--per-class 5,20]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import report  # noqa: E402

import zoo  # noqa: E402

TEST_PER_CLASS, VAL_PER_CLASS = 30, 4
MODES = {"scratch": {}, "init": {"init": "cnn-digits"}, "init + freeze": {"init": "cnn-digits", "freeze": True}}


def save(images: dict[str, list[np.ndarray]], root: Path, mode: str) -> None:
    for label, arrays in images.items():
        (root / label).mkdir(parents=True)
        for i, pixels in enumerate(arrays):
            Image.fromarray(pixels, mode).save(root / label / f"{i}.png")


def split_folders(root: Path, pools: dict[str, list[np.ndarray]], per_class: int, mode: str) -> Path:
    """train/ (``per_class`` each), val/ and test/ folders cut from each class's pool, in the pool's order."""
    cuts = {"test": (0, TEST_PER_CLASS), "val": (TEST_PER_CLASS, TEST_PER_CLASS + VAL_PER_CLASS),
            "train": (TEST_PER_CLASS + VAL_PER_CLASS, TEST_PER_CLASS + VAL_PER_CLASS + per_class)}
    for split, (a, b) in cuts.items():
        save({label: pool[a:b] for label, pool in pools.items()}, root / split, mode)
    return root


def digit_pools() -> dict[str, list[np.ndarray]]:
    """Digits 0, 1 and 7 from the validation and test splits of the built-in digits (the published model never
    trained on them), shuffled with a fixed seed."""
    from zoo.models import load_model_data
    from zoo.registry import get_model

    data = load_model_data(get_model("cnn-digits"))
    x_all, y_all = np.concatenate([data.val.x, data.test.x]), np.concatenate([data.val.y, data.test.y])
    order = np.random.default_rng(0).permutation(len(y_all))
    x_all, y_all = x_all[order], y_all[order]
    pools = {}
    for digit in (0, 1, 7):
        x = x_all[y_all == digit][:, 0]  # (N, 8, 8) in [0, 1], bright strokes on black
        pools[str(digit)] = [np.round(img * 255).astype(np.uint8) for img in x]
    return pools


def photo_pools(rng: np.random.Generator, count: int) -> dict[str, list[np.ndarray]]:
    """``count`` random 32x32 RGB patches of each of scikit-learn's two sample photographs."""
    from sklearn.datasets import load_sample_images

    photos = load_sample_images()
    pools = {}
    for name, image in zip(("china", "flower"), photos.images):
        h, w = image.shape[:2]
        tops, lefts = rng.integers(0, h - 32, count), rng.integers(0, w - 32, count)
        pools[name] = [np.ascontiguousarray(image[t:t + 32, s:s + 32]) for t, s in zip(tops, lefts)]
    return pools


def measure(folder: Path, seeds: list[int], overrides: dict, out: Path) -> dict[str, dict]:
    found = {}
    for mode, options in MODES.items():
        accuracies, seconds = [], []
        for seed in seeds:
            started = time.perf_counter()
            run = zoo.train("cnn-digits", data=folder, seed=seed, overrides=overrides, force=True,
                            out=out / f"{mode.replace(' + ', '-')}-{seed}", **options)
            seconds.append(time.perf_counter() - started)
            accuracies.append(run.metrics()["metrics"]["accuracy"])
        found[mode] = {"accuracies": accuracies, "seconds": statistics.median(seconds)}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--per-class", default="5,20")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    sizes = [int(s) for s in args.per_class.split(",")]
    torch.set_num_threads(1)
    rows, details = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        digits = digit_pools()
        photos = photo_pools(np.random.default_rng(0), TEST_PER_CLASS + VAL_PER_CLASS + max(sizes))
        tasks = {"digits-017": (digits, "L", {}), "photo-patches": (photos, "RGB",
                                                                   {"image_size": 8, "image_mode": "grey"})}
        for task, (pools, mode, overrides) in tasks.items():
            usable = min(len(p) for p in pools.values()) - TEST_PER_CLASS - VAL_PER_CLASS
            for per_class in sizes:
                if per_class > usable:
                    raise SystemExit(f"{task}: at most {usable} training images per class")
                folder = split_folders(tmp / f"{task}-{per_class}", pools, per_class, mode)
                found = measure(folder, seeds, overrides, tmp / "runs" / f"{task}-{per_class}")
                scratch = statistics.mean(found["scratch"]["accuracies"])
                for name, result in found.items():
                    acc = result["accuracies"]
                    rows.append([task, per_class, name, statistics.mean(acc), min(acc), max(acc),
                                 statistics.mean(acc) - scratch, result["seconds"]])
                    details.append({"task": task, "per_class": per_class, "mode": name, **result})
    report("finetune", ["task", "train per class", "start", "test accuracy (mean)", "min", "max",
                        "vs scratch", "train s (median)"], rows,
           {"seeds": seeds, "test_per_class": TEST_PER_CLASS, "runs": details})
    helped = [r for r in rows if r[2] != "scratch" and r[6] > 0.01]
    hurt = [r for r in rows if r[2] != "scratch" and r[6] < -0.01]
    print(f"\nfine-tuning beat scratch by more than 1 point in {len(helped)} of {len(rows) * 2 // 3} cases, "
          f"and lost by more than 1 point in {len(hurt)}")


if __name__ == "__main__":
    main()
