"""Image folders: one subfolder per class, or ``train/``, ``val/``, ``test/`` folders holding them.

What the peers get wrong is the rule here (shared/design.md, "Image folders"): hidden files and folders
are never data; classes are ordered naturally and keep their names; every image is fully decoded when
the folder is read, and every damaged file is named; an empty class, a file at the wrong depth and split
folders that disagree are each one line naming them all; colour and size follow a declared rule
(``zoo.sources.images``). Decoded arrays are cached by content (``zoo.sources.cache``).

Imports: numpy, Pillow (through ``zoo.sources.images``), the standard library, ``zoo.sources``' own
modules.
"""
from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import zoo.sources.cache as cache
from zoo.sources.common import (
    Arrays,
    DataError,
    ReadOptions,
    Source,
    is_hidden,
    listing,
    natural_sorted,
    plural,
)
from zoo.sources.images import DamagedImage, ImageRule, ImageTooLarge, decode_within, image_record, pillow_limit

KIND = "image folder"
POOL = "all"
SPLITS = ("train", "val", "test")
SPLIT_NAMES = {"train": "train", "training": "train",
               "val": "val", "valid": "val", "validation": "val", "dev": "val",
               "test": "test", "testing": "test", "eval": "test"}
HOLD_BYTES = 512 * 2**20  # file bytes kept from hashing for decoding; beyond this, files are read twice


@dataclass(frozen=True)
class FolderPlan:
    """The images of a folder before any is decoded: per split ("all" without split folders), each
    image's path relative to the root (with '/') and class index; the class names in index order; and
    the split folders as found (``{"val": "dev"}``)."""

    root: Path
    images: dict[str, list[tuple[str, int]]]
    class_names: tuple[str, ...]
    split_folders: dict[str, str]

    def count(self) -> int:
        return sum(len(v) for v in self.images.values())


def _children(folder: Path) -> tuple[list[str], list[str]]:
    """The folder's visible subfolders and files, each in natural order."""
    folders, files = [], []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if not is_hidden(entry.name):
                    (folders if entry.is_dir() else files).append(entry.name)
    except OSError as exc:
        raise DataError(f"{folder}: cannot list the folder: {exc.strerror or exc}") from None
    return natural_sorted(folders), natural_sorted(files)


def _files_below(folder: Path, prefix: str) -> list[str]:
    """Every visible file anywhere under ``folder``, as ``prefix/...`` paths (files at the wrong depth);
    links to folders are not followed (no loops)."""
    found = []
    for here, folders, files in os.walk(folder):
        folders[:] = natural_sorted(f for f in folders if not is_hidden(f))
        inner = Path(here).relative_to(folder).as_posix()
        base = prefix if inner == "." else f"{prefix}/{inner}"
        found += [f"{base}/{name}" for name in natural_sorted(files) if not is_hidden(name)]
    return found


def _split_folders(root: Path, folders: list[str]) -> dict[str, str]:
    """The split each split-named folder stands for; one line when they clash or mix with class folders."""
    named = [f for f in folders if f.lower() in SPLIT_NAMES]
    if not named:
        return {}
    others = [f for f in folders if f.lower() not in SPLIT_NAMES]
    if others:
        raise DataError(f"{root}: holds split folders ({', '.join(named)}) beside other folders ({listing(others)}); "
                        f"put every class folder inside a split folder, or use no split folders")
    chosen: dict[str, list[str]] = {}
    for folder in named:
        chosen.setdefault(SPLIT_NAMES[folder.lower()], []).append(folder)
    clashes = [" and ".join(v) for v in chosen.values() if len(v) > 1]
    if clashes:
        raise DataError(f"{root}: {'; '.join(clashes)} name the same split; keep one folder per split")
    if "train" not in chosen:
        raise DataError(f"{root}: split folders {', '.join(named)} but no training folder (train/ or training/)")
    return {split: chosen[split][0] for split in SPLITS if split in chosen}


def plan_image_folder(root: str | Path) -> FolderPlan:
    """Scan ``root`` (no image is opened); each problem with its shape is one DataError line naming
    every offender."""
    root = Path(root)
    folders, files = _children(root)
    split_folders = _split_folders(root, folders)
    parts = dict(split_folders) or {POOL: ""}
    wrong_depth = list(files)
    where = "DIR/<split>/<class>/<image>" if split_folders else "DIR/<class>/<image>"
    classes: dict[str, dict[str, list[str]]] = {}  # split -> class -> image paths
    for split, folder in parts.items():
        base = root / folder if folder else root
        prefix = f"{folder}/" if folder else ""
        class_folders, stray = _children(base)
        if folder:
            wrong_depth += [f"{prefix}{name}" for name in stray]
        classes[split] = {}
        for name in class_folders:
            nested, images = _children(base / name)
            classes[split][name] = [f"{prefix}{name}/{image}" for image in images]
            for inner in nested:
                wrong_depth += _files_below(base / name / inner, f"{prefix}{name}/{inner}")
    if not any(classes.values()):
        raise DataError(f"{root}: no class folders: an image folder holds one subfolder per class (DIR/<class>/"
                        f"<image>), or train/, val/, test/ folders holding them")
    if wrong_depth:
        raise DataError(f"{root}: {plural(len(wrong_depth), 'file')} at the wrong depth (images go in {where}): "
                        f"{listing(wrong_depth)}")
    empty = [f"{parts[split] + '/' if parts[split] else ''}{name}"
             for split, found in classes.items() for name, images in found.items() if not images]
    if empty:
        raise DataError(f"{root}: {plural(len(empty), 'empty class folder')} (no images): {listing(empty)}")
    _same_classes(root, classes, parts)
    names = tuple(natural_sorted({name for found in classes.values() for name in found}))
    index = {name: i for i, name in enumerate(names)}
    images = {split: [(path, index[name]) for name in natural_sorted(found) for path in found[name]]
              for split, found in classes.items()}
    return FolderPlan(root, images, names, split_folders)


def _same_classes(root: Path, classes: dict[str, dict[str, list[str]]], parts: dict[str, str]) -> None:
    every = {name for found in classes.values() for name in found}
    gaps = [f"{parts[split]}/ lacks {listing(natural_sorted(every - set(found)))}"
            for split, found in classes.items() if every - set(found)]
    if gaps:
        raise DataError(f"{root}: the split folders disagree on the classes: {'; '.join(gaps)}; every split folder "
                        f"needs the same class folders")


def _content_key(plan: FolderPlan, rule: ImageRule, options: ReadOptions) -> tuple[str, list[bytes | None]]:
    """The cache key of the folder read by ``rule``, and the files' bytes (up to HOLD_BYTES) for decoding."""
    key = cache.ContentKey(KIND, {"rule": rule.to_json(), "skip_damaged": options.skip_damaged,
                                  "classes": list(plan.class_names), "splits": plan.split_folders})
    held: list[bytes | None] = []
    total = 0
    for split, images in plan.images.items():
        for path, label in images:
            data = _read(plan.root, path)
            key.add(f"{split}\0{label}\0{path}", data)
            total += len(data)
            held.append(data if total <= HOLD_BYTES else None)
    return key.hexdigest(), held


def _read(root: Path, path: str) -> bytes:
    try:
        with open(os.path.join(root, path), "rb") as handle:  # not pathlib: this runs once per image
            return handle.read()
    except OSError as exc:
        raise DataError(f"{root}: cannot read {path}: {exc.strerror or exc}") from None


def _sizes_differ(root: Path, shapes: dict[str, tuple[int, int]]) -> DataError:
    """One line naming two files of different sizes and how to choose one size."""
    (first, size), = list(shapes.items())[:1]
    other, other_size = next((p, s) for p, s in shapes.items() if s != size)
    common = Counter(shapes.values()).most_common(1)[0][0]
    suggestion = str(common[0]) if common[0] == common[1] else f"[{common[0]},{common[1]}]"
    return DataError(f"{root}: images differ in size ({first} is {size[0]}x{size[1]}, {other} is "
                     f"{other_size[0]}x{other_size[1]}, height x width; {len(set(shapes.values()))} sizes in all): "
                     f"choose one with --set image_size={suggestion} (N, or [H,W]; the filter is "
                     f"--set resample=bilinear unless you name another)")


def _decode_all(plan: FolderPlan, rule: ImageRule, held: list[bytes | None], options: ReadOptions):
    """Every image decoded; too-large and damaged files named all at once (damaged ones skipped on request)."""
    decoded: dict[str, list[tuple[str, int, np.ndarray]]] = {split: [] for split in plan.images}
    too_large, damaged = [], []
    modes, formats = Counter(), Counter()
    position = 0
    with pillow_limit(rule):
        for split, images in plan.images.items():
            for path, label in images:
                data = held[position] if held[position] is not None else _read(plan.root, path)
                position += 1
                try:
                    one = decode_within(data, rule, path)
                except ImageTooLarge as exc:
                    too_large.append(f"{path} ({exc.size[0]}x{exc.size[1]})")
                    continue
                except DamagedImage as exc:
                    damaged.append((path, exc.reason))
                    continue
                modes[one.source_mode] += 1
                formats[one.source_format] += 1
                decoded[split].append((path, label, one.array))
    if too_large:
        them = "it" if len(too_large) == 1 else "them"
        raise DataError(f"{plan.root}: {plural(len(too_large), 'image')} above the decompression-bomb limit of "
                        f"{rule.max_pixels:,} pixels (width x height): {listing(too_large)}; remove {them}, or raise "
                        f"the limit with --set max_image_pixels=N")
    if damaged and not options.skip_damaged:
        them = "it" if len(damaged) == 1 else "them"
        raise DataError(f"{plan.root}: {plural(len(damaged), 'image')} cannot be decoded: "
                        f"{listing([f'{p} ({why})' for p, why in damaged])}; replace or remove {them}, or leave "
                        f"{them} out with --set skip_damaged=true")
    return decoded, [p for p, _ in damaged], modes, formats


def _arrays(plan: FolderPlan, rule: ImageRule, decoded, skipped: list[str]) -> tuple[dict[str, Arrays], ImageRule]:
    """One uint8 (N, C, H, W) array per split, in one colour mode and one size; the rule as resolved."""
    present = {split: {label for _, label, _ in images} for split, images in decoded.items()}
    left = [f"{plan.split_folders[s] + '/' if s in plan.split_folders else ''}{plan.class_names[c]}"
            for s in decoded for c in range(len(plan.class_names)) if c not in present[s]]
    if left:
        raise DataError(f"{plan.root}: no image of {listing(left)} decodes (skipped as damaged: {listing(skipped)})")
    every = [(path, array) for images in decoded.values() for path, _, array in images]
    shapes = {path: tuple(int(d) for d in array.shape[1:]) for path, array in every}
    if len(set(shapes.values())) > 1:
        raise _sizes_differ(plan.root, shapes)
    colour = any(array.shape[0] == 3 for _, array in every)
    mode = rule.mode if rule.mode != "auto" else ("rgb" if colour else "grey")
    channels = 3 if mode == "rgb" else 1
    out = {}
    for split, images in decoded.items():
        x = np.stack([a if a.shape[0] == channels else np.repeat(a, channels, axis=0) for _, _, a in images])
        out[split] = Arrays(x, np.array([label for _, label, _ in images], dtype=np.int64))
    size = next(iter(shapes.values()))
    return out, ImageRule(mode, size, rule.resample, rule.max_pixels)


def _from_cache(key: str, names: tuple[str, ...]) -> tuple[dict[str, Arrays], dict] | str:
    """The cached arrays of ``key``, checked whole; or why they cannot be used."""
    found = cache.load(key)
    if isinstance(found, str):
        return found
    arrays, meta = found
    try:
        shape = tuple(meta["record"]["input_shape"])
        out = {split: Arrays(arrays[f"x_{split}"], arrays[f"y_{split}"]) for split in meta["splits"]}
        for part in out.values():
            if (part.x.dtype != np.uint8 or part.x.shape[1:] != shape or part.y.dtype != np.int64
                    or part.y.shape != (len(part),) or (len(part) and not 0 <= part.y.min() <= part.y.max() < len(names))):
                return "damaged (arrays of the wrong shape or type)"
        if tuple(meta["record"]["class_names"]) != names:
            return "damaged (other class names)"
    except (KeyError, TypeError, ValueError) as exc:
        return f"damaged ({type(exc).__name__}: {exc})"
    return out, meta


def read_image_folder(root: str | Path, options: ReadOptions | None = None) -> Source:
    """An image folder's uint8 (N, C, H, W) arrays and int64 labels, per split folder (or one pool, "all"),
    by the options' rule; from the cache when the files and the rule are unchanged."""
    options = options or ReadOptions()
    rule = ImageRule.from_options(options)
    plan = plan_image_folder(root)
    key, held = _content_key(plan, rule, options)
    damaged_entry = ""
    if options.cache:
        found = _from_cache(key, plan.class_names)
        if not isinstance(found, str):
            arrays, meta = found
            count = sum(len(a) for a in arrays.values())
            return Source(arrays, KIND, "image", plan.class_names, meta["record"], tuple(meta["skipped"]), key,
                          f"read from the cache ({plural(count, 'image')}, unchanged since decoded; "
                          f"{cache.entry_path(key)})")
        damaged_entry = "" if found == "absent" else f"; the cache entry was {found} and is replaced"
    start = time.perf_counter()
    decoded, skipped, modes, formats = _decode_all(plan, rule, held, options)
    arrays, resolved = _arrays(plan, rule, decoded, skipped)
    seconds = time.perf_counter() - start
    first = next(iter(arrays.values())).x
    record = image_record(resolved, tuple(int(d) for d in first.shape[1:]), plan.class_names, options, modes, formats)
    record["split_folders"] = dict(plan.split_folders)
    record["skipped_damaged"] = len(skipped)
    count = sum(len(a) for a in arrays.values())
    note = f"decoded {plural(count, 'image')} in {seconds:.2f} s"
    if skipped:
        note += f"; skipped {plural(len(skipped), 'damaged image')}: {listing(skipped)}"
    if options.cache:
        failed = cache.store(key, {f"{k}_{split}": getattr(a, k) for split, a in arrays.items() for k in ("x", "y")},
                             {"splits": list(arrays), "record": record, "skipped": skipped, "source": KIND})
        note += f"; not cached ({failed})" if failed else "; cached for the next read"
    return Source(arrays, KIND, "image", plan.class_names, record, tuple(skipped), key, note + damaged_entry)
