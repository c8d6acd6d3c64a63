"""zoo.sources on real files: image folders written with Pillow (damaged, rotated, transparent, 16-bit,
mixed sizes), the decoded-array cache, .ts files in the archive's style, CSV (wide and long) and .npz."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo.data import load_data
from zoo.registry import get_dataset
from zoo.sources import Arrays, DataError, ReadOptions, read_source
from zoo.sources.cache import cache_root
from zoo.sources.folders import read_image_folder
from zoo.sources.images import ImageRule, ImageTooLarge, decode_image, image_input

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def zoo_home(tmp_path, monkeypatch):
    """Every test caches into its own ZOO_HOME."""
    home = tmp_path / "zoo-home"
    monkeypatch.setenv("ZOO_HOME", str(home))
    return home


def grey(h=8, w=8) -> np.ndarray:
    return RNG.integers(0, 256, (h, w), dtype=np.uint8)


def save(path: Path, array: np.ndarray | Image.Image, fmt: str | None = None, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = array if isinstance(array, Image.Image) else Image.fromarray(array)
    image.save(path, fmt, **kw)
    return path


def classes(root: Path, counts: dict[str, int], size=(8, 8), suffix=".png") -> Path:
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            save(root / name / f"{i}{suffix}", grey(*size))
    return root


def error_of(call, *args, **kw) -> str:
    with pytest.raises(DataError) as info:
        call(*args, **kw)
    message = str(info.value)
    assert "\n" not in message
    return message


def options(**kw) -> ReadOptions:
    return ReadOptions.from_mapping(kw)


# --------------------------------------------------------------------------- image folders: structure


def test_classes_in_natural_order_and_hidden_files_are_never_data(tmp_path):
    root = classes(tmp_path / "d", {"2": 3, "10": 2, "cat": 2, "Dog": 1, "apple": 1})
    save(root / ".ipynb_checkpoints" / "0.png", grey())  # would be a class in torchvision and timm
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "cat" / "._0.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")  # AppleDouble
    save(root / "cat" / ".hidden" / "x.png", grey())
    (root / "cat" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    for name in ("img10.png", "img2.png"):
        save(root / "2" / name, grey())
    source = read_image_folder(root)
    assert source.class_names == ("2", "10", "apple", "cat", "Dog")
    pool = source.splits["all"]
    assert pool.x.shape == (11, 1, 8, 8) and pool.x.dtype == np.uint8 and pool.y.dtype == np.int64
    assert np.bincount(pool.y).tolist() == [5, 2, 1, 2, 1]
    first = Image.open(root / "2" / "0.png")
    assert np.array_equal(pool.x[0, 0], np.asarray(first)), "files in natural order: 0, 1, 2, img2, img10"
    assert np.array_equal(pool.x[4, 0], np.asarray(Image.open(root / "2" / "img10.png")))
    assert source.preprocessing["class_names"] == ["2", "10", "apple", "cat", "Dog"]


def test_wrong_depth_empty_classes_and_no_classes_each_one_line(tmp_path):
    root = classes(tmp_path / "d", {"cat": 2, "dog": 2})
    (root / "notes.txt").write_text("about the data")
    save(root / "cat" / "sub" / "x.png", grey())
    save(root / "cat" / "sub" / "deeper" / "y.png", grey())
    assert error_of(read_image_folder, root) == (
        f"{root}: 3 files at the wrong depth (images go in DIR/<class>/<image>): notes.txt, cat/sub/x.png, "
        f"cat/sub/deeper/y.png")

    root = classes(tmp_path / "e", {"cat": 2})
    (root / "dog").mkdir()
    (root / "dog" / ".DS_Store").write_bytes(b"x")  # hidden: the folder is still empty
    (root / "bird").mkdir()
    assert error_of(read_image_folder, root) == f"{root}: 2 empty class folders (no images): bird, dog"

    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "a.png").write_bytes(b"")
    assert "no class folders" in error_of(read_image_folder, tmp_path / "f")


def test_too_few_images_to_split_names_every_class(tmp_path):
    root = classes(tmp_path / "d", {"ant": 2, "bee": 3, "cat": 10})
    message = error_of(load_data, get_dataset("digits"), True, root)
    assert message == (f"{root}: 2 classes have too few samples for the stratified train/val/test split (each needs "
                       f"at least 5): 'ant' (2), 'bee' (3)")


def test_split_folders_and_their_synonyms(tmp_path):
    root = tmp_path / "d"
    for folder, n in (("Training", 12), ("Dev", 3), ("eval", 4)):
        classes(root / folder, {"cat": n, "dog": n})
    source = read_image_folder(root)
    assert {k: len(v) for k, v in source.splits.items()} == {"train": 24, "val": 6, "test": 8}
    assert source.preprocessing["split_folders"] == {"train": "Training", "val": "Dev", "test": "eval"}
    data = load_data(get_dataset("digits"), True, root)
    assert data.sizes() == {"train": 24, "val": 6, "test": 8}, "explicit splits are kept"
    assert data.preprocessing["splits"]["val"] == "the folder Dev/"

    no_val = tmp_path / "n"
    classes(no_val / "train", {"cat": 10, "dog": 10})
    classes(no_val / "test", {"cat": 3, "dog": 3})
    data = load_data(get_dataset("digits"), True, no_val)
    assert data.sizes() == {"train": 18, "val": 2, "test": 6}, "val drawn from train, stratified"
    assert sorted(np.bincount(data.val.y)) == [1, 1]


def test_split_folders_that_disagree_clash_or_mix(tmp_path):
    root = tmp_path / "d"
    classes(root / "train", {"cat": 2, "dog": 2, "emu": 2})
    classes(root / "val", {"cat": 2})
    classes(root / "test", {"cat": 2, "dog": 2, "emu": 2})
    assert error_of(read_image_folder, root) == (
        f"{root}: the split folders disagree on the classes: val/ lacks dog, emu; every split folder needs the "
        f"same class folders")
    classes(root / "validation", {"cat": 2})
    assert error_of(read_image_folder, root) == (
        f"{root}: val and validation name the same split; keep one folder per split")

    no_train = tmp_path / "v"
    classes(no_train / "valid", {"cat": 2})
    assert error_of(read_image_folder, no_train) == (
        f"{no_train}: split folders valid but no training folder (train/ or training/)")

    mixed = tmp_path / "m"
    classes(mixed / "train", {"cat": 2})
    classes(mixed, {"dog": 2})
    assert error_of(read_image_folder, mixed) == (
        f"{mixed}: holds split folders (train) beside other folders (dog); put every class folder inside a split "
        f"folder, or use no split folders")


# --------------------------------------------------------------------------- image folders: damaged files


def jpeg_bytes(h=64, w=64) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def test_truncated_jpeg_is_found_by_the_full_decode_and_named(tmp_path):
    root = classes(tmp_path / "d", {"cat": 6, "dog": 6})
    whole = jpeg_bytes()
    cut = root / "cat" / "cut.jpg"
    cut.write_bytes(whole[: len(whole) * 6 // 10])
    with Image.open(cut) as lazy:
        lazy.verify()  # the premise: opening and verify() both pass a truncated JPEG
    (root / "dog" / "notes.png").write_text("not an image")
    message = error_of(read_image_folder, root)
    assert message == (f"{root}: 2 images cannot be decoded: cat/cut.jpg (truncated), dog/notes.png (not an image "
                       f"Pillow can read); replace or remove them, or leave them out with --set skip_damaged=true")
    assert not cache_root().exists() or not list(cache_root().iterdir()), "nothing written on failure"

    source = read_image_folder(root, options(skip_damaged=True))
    assert source.skipped == ("cat/cut.jpg", "dog/notes.png")
    assert len(source.splits["all"]) == 12 and source.preprocessing["skipped_damaged"] == 2
    assert "skipped 2 damaged images: cat/cut.jpg, dog/notes.png" in source.note
    data = load_data(get_dataset("digits"), True, root, {"skip_damaged": "true", "epochs": 3})
    assert data.skipped == ("cat/cut.jpg", "dog/notes.png") and sum(data.sizes().values()) == 12

    (root / "emu").mkdir()
    (root / "emu" / "only.jpg").write_bytes(whole[:100])
    assert error_of(read_image_folder, root, options(skip_damaged=True)) == (
        f"{root}: no image of emu decodes (skipped as damaged: cat/cut.jpg, dog/notes.png, emu/only.jpg)")


def test_many_damaged_files_are_counted_and_the_list_shortened(tmp_path):
    root = classes(tmp_path / "d", {"cat": 1})
    for i in range(15):
        (root / "cat" / f"bad{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(10))
    message = error_of(read_image_folder, root)
    assert message.startswith(f"{root}: 15 images cannot be decoded: cat/bad0.png (")
    assert "cat/bad11.png" in message and "cat/bad12.png" not in message and "... and 3 more;" in message


# --------------------------------------------------------------------------- colour, orientation, size, bombs


def test_exif_orientation_is_applied(tmp_path):
    raw = np.zeros((10, 20), dtype=np.uint8)
    raw[:, 10:] = 255  # stored: left half black, right half white, 10 high and 20 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: display rotated 90 degrees clockwise
    path = save(tmp_path / "d" / "a" / "phone.jpg", raw, "JPEG", exif=exif.tobytes(), quality=95)
    array = decode_image(path, ImageRule())
    assert array.shape == (1, 20, 10), "height and width swapped"
    assert array[0, :8].mean() < 30 and array[0, 12:].mean() > 225, "the left half is now on top"


def test_colour_rules_alpha_palette_and_16_bit(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[0, 0, 3] = 0  # transparent: reads as white
    rgba[1:, :, 3] = 255
    rgba[0, 1:, 3] = 255
    rgba_path = save(tmp_path / "rgba.png", Image.fromarray(rgba, "RGBA"))
    array = decode_image(rgba_path, ImageRule("rgb"))
    assert array[:, 0, 0].tolist() == [255, 255, 255] and array[:, 1, 1].tolist() == [255, 0, 0]

    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putpixel((0, 0), 0)
    palette.info["transparency"] = 0
    p_path = save(tmp_path / "p.png", palette, transparency=0)
    array = decode_image(p_path, ImageRule())
    assert array.shape == (3, 4, 4) and array[:, 0, 0].tolist() == [255, 255, 255]
    assert array[:, 2, 2].tolist() == [0, 0, 255]

    wide = np.array([[0, 65535, 257 * 100, 32896]], dtype=np.uint16)
    deep = save(tmp_path / "deep.png", Image.fromarray(wide))
    assert Image.open(deep).mode == "I;16"
    assert decode_image(deep, ImageRule()).tolist() == [[[0, 255, 100, 128]]], "scaled, not clipped"

    la = Image.fromarray(np.stack([np.full((2, 2), 40, np.uint8), np.array([[0, 255], [255, 255]], np.uint8)], -1), "LA")
    la_path = save(tmp_path / "la.png", la)
    assert decode_image(la_path, ImageRule()).tolist() == [[[255, 40], [40, 40]]], "grey stays grey, alpha on white"

    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 1] = 200
    rgb_path = save(tmp_path / "green.png", rgb)
    assert decode_image(rgb_path, ImageRule("grey")).tolist() == [[[117, 117], [117, 117]]], "ITU-R 601-2 luma"


def test_auto_colour_is_grey_unless_an_image_is_in_colour(tmp_path):
    root = classes(tmp_path / "d", {"a": 3, "b": 3})
    source = read_image_folder(root)
    assert source.splits["all"].x.shape[1] == 1 and source.preprocessing["color_mode"] == "grey"
    colour = np.zeros((8, 8, 3), np.uint8)
    colour[..., 2] = 90
    save(root / "b" / "blue.png", colour)
    source = read_image_folder(root)
    pool = source.splits["all"]
    assert pool.x.shape == (7, 3, 8, 8) and source.preprocessing["color_mode"] == "rgb"
    assert source.preprocessing["source_modes"] == {"L": 6, "RGB": 1}
    grey_file = root / "a" / "0.png"
    auto = decode_image(grey_file, ImageRule())
    assert np.array_equal(pool.x[0], np.repeat(auto, 3, axis=0))
    assert np.array_equal(pool.x[0], decode_image(grey_file, ImageRule("rgb"))), "as deployment decodes it"
    forced = read_image_folder(root, options(image_mode="grey"))
    assert forced.splits["all"].x.shape[1] == 1 and forced.preprocessing["color_rule"] == "grey"


def test_sizes_refused_when_they_differ_unless_a_size_is_chosen(tmp_path):
    root = classes(tmp_path / "d", {"a": 3, "b": 3})
    save(root / "b" / "wide.png", grey(10, 12))
    save(root / "b" / "big.png", grey(16, 16))
    assert error_of(read_image_folder, root) == (
        f"{root}: images differ in size (a/0.png is 8x8, b/big.png is 16x16, height x width; 3 sizes in all): "
        f"choose one with --set image_size=8 (N, or [H,W]; the filter is --set resample=bilinear unless you name "
        f"another)")
    source = read_image_folder(root, options(image_size=6))
    assert source.splits["all"].x.shape == (8, 1, 6, 6)
    assert source.preprocessing["image_size"] == [6, 6] and source.preprocessing["size_rule"] == "image_size, as given"
    source = read_image_folder(root, options(image_size="[6, 9]", resample="nearest"))
    assert source.splits["all"].x.shape == (8, 1, 6, 9) and source.preprocessing["resample_code"] == 0
    expected = np.asarray(Image.open(root / "b" / "big.png").resize((9, 6), Image.Resampling.NEAREST))
    assert np.array_equal(source.splits["all"].x[-2, 0], expected), "big.png sorts before wide.png"
    assert error_of(ReadOptions.from_mapping, {"image_size": "big"}) == "image_size: 'big' is not a positive whole number"
    assert "not one of Pillow's filters" in error_of(read_image_folder, root, options(resample="smooth"))


def test_decompression_bomb_limit_is_part_of_the_rule(tmp_path, monkeypatch):
    root = classes(tmp_path / "d", {"a": 2, "b": 2})
    save(root / "b" / "huge.png", grey(20, 30))
    assert error_of(read_image_folder, root, options(max_image_pixels=500, image_size=8)) == (
        f"{root}: 1 image above the decompression-bomb limit of 500 pixels (width x height): b/huge.png (30x20); "
        f"remove it, or raise the limit with --set max_image_pixels=N")
    with pytest.raises(ImageTooLarge):
        decode_image(root / "b" / "huge.png", ImageRule(max_pixels=599))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow alone refuses 600 > 2 x 100 at open
    assert decode_image(root / "b" / "huge.png", ImageRule(max_pixels=600)).shape == (1, 20, 30)
    assert Image.MAX_IMAGE_PIXELS == 100, "Pillow's own limit is left as it was"


# --------------------------------------------------------------------------- the cache


def bmp_folder(root: Path) -> Path:
    return classes(root, {"a": 6, "b": 6}, suffix=".bmp")


def test_cache_hit_miss_and_a_changed_byte(tmp_path):
    root = bmp_folder(tmp_path / "d")
    first = read_image_folder(root)
    assert first.note.startswith("decoded 12 images in ") and first.note.endswith("; cached for the next read")
    entries = list(cache_root().iterdir())
    assert [p.name for p in entries] == [f"{first.key}.npz"], "one entry, no temporary files left"
    again = read_image_folder(root)
    assert again.note.startswith("read from the cache (12 images") and again.key == first.key
    assert np.array_equal(again.splits["all"].x, first.splits["all"].x)
    assert again.preprocessing == first.preprocessing and again.class_names == first.class_names

    path = root / "b" / "3.bmp"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # one pixel byte of an uncompressed BMP: still a valid image
    path.write_bytes(bytes(data))
    changed = read_image_folder(root)
    assert changed.key != first.key and changed.note.startswith("decoded 12 images")
    assert (changed.splits["all"].x != first.splits["all"].x).sum() == 1
    assert read_image_folder(root, options(image_size=4)).key not in (first.key, changed.key), "the rule is keyed"
    off = read_image_folder(root, options(cache=False))
    assert off.note.startswith("decoded") and "cached" not in off.note


def test_a_damaged_cache_entry_is_ignored_and_rewritten(tmp_path):
    root = bmp_folder(tmp_path / "d")
    first = read_image_folder(root)
    entry = cache_root() / f"{first.key}.npz"
    flipped = bytearray(entry.read_bytes())
    flipped[len(flipped) // 3] ^= 0x01  # one bit of the pixels: the zip's CRC-32 no longer matches
    entry.write_bytes(bytes(flipped))
    again = read_image_folder(root)
    assert again.note.startswith("decoded 12 images") and "the cache entry was damaged (BadZipFile" in again.note
    assert np.array_equal(again.splits["all"].x, first.splits["all"].x)
    entry.write_bytes(entry.read_bytes()[:200])
    again = read_image_folder(root)
    assert again.note.startswith("decoded 12 images") and "the cache entry was damaged (" in again.note
    assert np.array_equal(again.splits["all"].x, first.splits["all"].x)
    assert read_image_folder(root).note.startswith("read from the cache")
    with np.load(entry, allow_pickle=False) as archive:
        meta = json.loads(str(archive["meta"]))
    assert meta["key"] == first.key and meta["format"] == 1


def test_the_run_fingerprint_covers_the_folder(tmp_path):
    root = bmp_folder(tmp_path / "d")
    digits = get_dataset("digits")
    one, two = load_data(digits, True, root), load_data(digits, True, root)
    assert one.sha256 == two.sha256 and two.note.startswith("read from the cache")
    assert one.info.class_names == ("a", "b") and one.info.sample_shape == (1, 8, 8)
    path = root / "a" / "0.bmp"
    data = bytearray(path.read_bytes())
    data[-2] ^= 0x01
    path.write_bytes(bytes(data))
    assert load_data(digits, True, root).sha256 != one.sha256
    assert load_data(digits, True, root, {"image_size": 6}).sha256 != one.sha256


def test_deployment_decodes_a_file_as_training_did(tmp_path):
    root = classes(tmp_path / "d", {"a": 10, "b": 10}, size=(14, 11))
    save(root / "b" / "photo.png", RNG.integers(0, 256, (30, 20, 4), dtype=np.uint8))
    data = load_data(get_dataset("digits"), True, root, {"image_size": [12, 10], "resample": "bicubic"})
    record = json.loads(json.dumps(data.preprocessing))  # what a bundle would carry
    assert record["color_mode"] == "rgb" and record["class_names"] == ["a", "b"]
    pool = read_image_folder(root, options(image_size=[12, 10], resample="bicubic")).splits["all"]
    for file, index in (("b/photo.png", -1), ("a/0.png", 0)):  # a colour photo, and a grey image made RGB
        assert np.array_equal(image_input(root / file, record), pool.x[index].astype(np.float32) / 255), file


# --------------------------------------------------------------------------- .ts files

HEADER = """#Made for the tests in the style of the UCR archive's files.
#Two classes.
@problemName {name}
@timeStamps false
@missing false
@univariate {uni}
{dims}@equalLength {equal}
{length}@classLabel true {labels}
@data
"""


def ts_file(path: Path, rows: list[str], name="Toy", uni="true", equal="true", length="@seriesLength 4\n",
            labels="2 10", dims="") -> Path:
    path.write_text(HEADER.format(name=name, uni=uni, equal=equal, length=length, labels=labels, dims=dims)
                    + "\n".join(rows) + "\n")
    return path


def test_ts_univariate_equal_length(tmp_path):
    rows = [f"{-1.5 + i},0.25,{i},3e-1:{'10' if i % 2 else '2'}" for i in range(20)]
    source = read_source(ts_file(tmp_path / "Toy_TRAIN.ts", rows))
    pool = source.splits["all"]
    assert source.class_names == ("2", "10") and pool.lengths is None
    assert pool.x.shape == (20, 4, 1) and pool.x.dtype == np.float32
    assert pool.x[0, :, 0].tolist() == [-1.5, 0.25, 0.0, pytest.approx(0.3)], "values kept, negatives too"
    assert pool.y.tolist() == [0, 1] * 10
    assert source.preprocessing["scaling"].startswith("none")
    data = load_data(get_dataset("digits-rows"), True, tmp_path / "Toy_TRAIN.ts")
    assert data.info.sample_shape == (4, 1) and data.info.class_names == ("2", "10")
    assert data.train.x.min() < 0, "sequences are not held to [0, 1]"


def test_ts_multivariate_unequal_lengths_padded_with_lengths(tmp_path):
    rows = ["1,2,3:4,5,6:a", "1,2,3,4,5:6,7,8,9,10:b", "7,8:9,10:a"]
    path = ts_file(tmp_path / "m.ts", rows, uni="false", equal="false", length="", labels="a b", dims="@dimensions 2\n")
    pool = read_source(path).splits["all"]
    assert pool.x.shape == (3, 5, 2) and pool.lengths.tolist() == [3, 5, 2]
    assert pool.x[0].tolist() == [[1, 4], [2, 5], [3, 6], [0, 0], [0, 0]], "zeros after each sequence's end"
    assert pool.x[2, :, 1].tolist() == [9, 10, 0, 0, 0]


def test_ts_folder_keeps_the_archive_split(tmp_path):
    train = [f"{i},{i + 1},{-i}:{'x' if i % 2 else 'y'}" for i in range(20)]
    test = [f"{i},{i},{i},{i}:{'x' if i % 2 else 'y'}" for i in range(6)]
    ts_file(tmp_path / "Toy_TRAIN.ts", train, equal="false", length="", labels="x y")
    ts_file(tmp_path / "Toy_TEST.ts", test, equal="false", length="", labels="y x")
    data = load_data(get_dataset("digits-rows"), True, tmp_path)
    assert data.sizes() == {"train": 18, "val": 2, "test": 6}
    assert data.note == "read 26 sequences from Toy_TRAIN.ts, Toy_TEST.ts"
    alone = read_source(tmp_path / "Toy_TRAIN.ts")
    assert set(alone.splits) == {"all"} and alone.note == (
        f"read 20 sequences from Toy_TRAIN.ts; Toy_TEST.ts beside it is not read: give the folder {tmp_path} to "
        f"keep the archive's train/test split")
    assert data.info.sample_shape == (4, 1) and (data.info.min_length, data.info.max_length) == (3, 4)
    assert data.test.lengths.tolist() == [4] * 6 and set(data.train.lengths.tolist()) == {3}
    assert data.info.class_names == ("x", "y") and data.preprocessing["splits"]["test"] == "given by the data"


@pytest.mark.parametrize("rows, change, message", [
    (["1,2,3,4:2", "1,?,3,4:10", "?,2,3,4:2"], {}, "missing values ('?') in 2 cases, on lines 12, 13; fill or drop "
                                                   "them (zoo does not impute)"),
    (["1,2,3,4:2", "1,2,3,4:7", "1,2,3,4:cat"], {}, "2 labels not in the header's @classLabel list (2 10): 7, cat"),
    (["1,2,3,4:2", "1,2,3:10"], {}, "@equalLength true, but cases differ in length (line 11: 4, line 12: 3)"),
    (["1,2,3:2"], {}, "@seriesLength 4, but the cases have 3 values"),
    (["1,2,3,4:5,6,7,8:2"], {}, "1 case with another number of dimensions than @univariate true: line 11 (2)"),
    (["1,2,3,4:2"], {"labels": ""}, "line 9: @classLabel true names no labels (write them after it: @classLabel true "
                                    "1 2 3)"),
    (["1,2,3,4:2"], {"uni": "maybe"}, "line 6: @univariate must be true or false (found 'maybe')"),
    (["1,2,3,4:2"], {"dims": "@classLabels true 1\n"}, "line 7: unknown header line @classlabels"),
    (["1,2,abc,4:2"], {}, "line 11, dimension 1: 'abc' is not a number"),
    (["1,2,nan,4:2"], {}, "line 11, dimension 1: holds NaN or infinite values; sequences must be finite"),
])
def test_ts_errors_name_the_line(tmp_path, rows, change, message):
    path = ts_file(tmp_path / "bad.ts", rows, **change)
    text = error_of(read_source, path)
    assert text.startswith(f"{path}: ") and message in text


def test_ts_without_a_header_or_with_timestamps(tmp_path):
    (tmp_path / "a.ts").write_text("1,2,3:1\n")
    assert error_of(read_source, tmp_path / "a.ts") == (
        f"{tmp_path / 'a.ts'}: line 1: data before @data (a .ts file starts with @ header lines)")
    (tmp_path / "b.ts").write_text("@problemName B\n@timeStamps true\n@classLabel true 1\n@data\n")
    assert "@timeStamps true: series with timestamps are not supported" in error_of(read_source, tmp_path / "b.ts")


# --------------------------------------------------------------------------- CSV


def test_csv_wide_one_sequence_per_row(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("Label,t0,t1,t2,t3\ncat,1,2,3,4\n10,-1,-2,,\n2,5,6,7,\ncat,0.5,1.5,2.5,3.5\n")
    source = read_source(path)
    pool = source.splits["all"]
    assert source.class_names == ("2", "10", "cat") and pool.y.tolist() == [2, 1, 0, 2]
    assert pool.x.shape == (4, 4, 1) and pool.lengths.tolist() == [4, 2, 3, 4]
    assert pool.x[1, :, 0].tolist() == [-1, -2, 0, 0]
    assert source.preprocessing["csv_layout"] == "wide" and "wide layout" in source.note
    path.write_text("label,t0,t1,t2\na,1,,3\n")
    assert error_of(read_source, path) == (f"{path}: row 2 has empty cells inside the sequence (a shorter sequence "
                                           f"leaves only its last cells empty)")


def test_csv_long_one_row_per_time_step(tmp_path):
    path = tmp_path / "long.csv"
    rows = ["series_id,time,x,z,class", "b,2,20,-2,up", "a,1,1,10,down", "b,0,0,0,up", "a,0,0,9,down", "b,1,10,-1,up"]
    path.write_text("\n".join(rows) + "\n")
    source = read_source(path)
    pool = source.splits["all"]
    assert source.preprocessing["csv_layout"] == "long"
    assert source.preprocessing["columns"]["features"] == ["x", "z"]
    assert pool.x.shape == (2, 3, 2) and pool.lengths.tolist() == [3, 2], "sequences in order of first appearance"
    assert pool.x[0].tolist() == [[0, 0], [10, -1], [20, -2]], "sorted by time"
    assert source.class_names == ("down", "up") and pool.y.tolist() == [1, 0]
    path.write_text("id,t,x,label\n1,0,1,a\n1,1,2,b\n")
    assert error_of(read_source, path) == (f"{path}: the label changes within 1 sequence (id 1); each sequence has "
                                           f"one label")


@pytest.mark.parametrize("header, message", [
    ("id,x,label", "ambiguous header: a sequence-id column (id) but no time column;"),
    ("time,x,label", "ambiguous header: a time column (time) but no sequence-id column;"),
    ("label,y,t0,t1", "ambiguous header: 2 label columns (label, y); keep one,"),
    ("t0,t1,t2", "no label column in the header (t0, t1, t2);"),
    ("subject,minute,acc,label", "unknown layout: columns subject, minute, acc are neither numbered time steps nor "
                                 "the long format's names;"),
])
def test_csv_layout_is_detected_honestly_or_refused(tmp_path, header, message):
    path = tmp_path / "d.csv"
    path.write_text(header + "\n" + ",".join("1" for _ in header.split(",")) + "\n")
    text = error_of(read_source, path)
    assert text.startswith(f"{path}: {message}")
    assert "label column named one of label, class, target, y" in text
    assert "a sequence-id column named one of id, series, series_id, sequence, sequence_id, case" in text


# --------------------------------------------------------------------------- .npz, other files, options


def test_npz_with_lengths_and_text_labels(tmp_path):
    x = RNG.normal(size=(30, 7, 3)).astype(np.float32)
    lengths = RNG.integers(2, 8, 30)
    y = np.array(["walk", "run", "sit"] * 10)
    np.savez(tmp_path / "s.npz", x=x, y=y, lengths=lengths)
    data = load_data(get_dataset("digits-rows"), True, tmp_path / "s.npz")
    assert data.info.class_names == ("run", "sit", "walk") and data.info.max_length == 7
    parts = np.concatenate([data.train.lengths, data.val.lengths, data.test.lengths])
    assert sorted(parts.tolist()) == sorted(lengths.tolist()), "lengths travel with their samples"
    row = int(np.flatnonzero((x == data.test.x[0]).all(axis=(1, 2)))[0])
    assert data.test.lengths[0] == lengths[row] and data.info.class_names[data.test.y[0]] == y[row]
    np.savez(tmp_path / "bad.npz", x=x, y=np.arange(30) % 3, lengths=np.full(30, 9))
    assert error_of(read_source, tmp_path / "bad.npz") == (
        f"{tmp_path / 'bad.npz'}: 'lengths' must lie in 1..7 (the padded length); found 9 to 9")
    assert error_of(load_data, get_dataset("digits"), True, tmp_path / "s.npz") == (
        f"{tmp_path / 's.npz'}: holds sequences (npz); this model takes images")


def test_unsupported_files_say_what_they_are(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    assert error_of(read_source, tmp_path / "notes.txt") == (
        f"{tmp_path / 'notes.txt'}: unsupported data file (a .txt file); zoo reads an image folder (one subfolder "
        f"per class), a .csv or .ts of sequences, an .npz (x, y), or MNIST's IDX files")
    save(tmp_path / "one.png", grey())
    assert "unsupported data file (an image (.png): give the folder that holds the class folders)" in error_of(
        read_source, tmp_path / "one.png")
    (tmp_path / "data.bin").write_bytes(b"PK\x03\x04rest")
    assert "(a zip archive: unpack it and give the folder)" in error_of(read_source, tmp_path / "data.bin")


def test_read_options_from_a_config():
    chosen = ReadOptions.from_mapping({"image_size": "28", "image_mode": "Gray", "skip_damaged": "yes", "lr": 0.1})
    assert (chosen.image_size, chosen.image_mode, chosen.skip_damaged) == ((28, 28), "grey", True)
    assert ReadOptions.from_mapping({"image_size": "32x24"}).image_size == (32, 24)
    assert ReadOptions.from_mapping({"image_size": 0}).image_size is None
    assert error_of(ReadOptions.from_mapping, {"image_mode": "cmyk"}) == "image_mode: 'cmyk' is not one of auto, grey, rgb"
    assert error_of(ReadOptions.from_mapping, {"cache": "maybe"}) == "cache: 'maybe' is not true or false"


def test_one_error_class_and_one_arrays_class():
    import zoo.data

    assert zoo.data.DataError is DataError and zoo.data.Arrays is Arrays
    assert issubclass(DataError, __import__("zoo.errors").errors.ZooError)


def test_the_readers_need_neither_torch_nor_the_layers_above(tmp_path, without_torch):
    import ast
    import os
    import subprocess
    import sys

    import zoo.sources

    package = Path(zoo.sources.__file__).parent
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                if name == "zoo" or name.startswith("zoo."):
                    assert name in ("zoo.errors", "zoo.fsutil", "zoo.config") or name.startswith("zoo.sources"), \
                        (module.name, name)
    root = classes(tmp_path / "d", {"a": 2, "b": 2})
    ts_file(tmp_path / "t.ts", ["1,2,3,4:2", "4,3,2,1:10"])
    code = ("import sys\nfrom zoo.sources import read_source\nfrom zoo.sources.images import image_input\n"
            f"folder = read_source({str(root)!r})\nread_source({str(tmp_path / 't.ts')!r})\n"
            f"print(image_input({str(root / 'a' / '0.png')!r}, folder.preprocessing).shape)\n"
            "assert 'torch' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **without_torch})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(1, 8, 8)"


def test_a_messy_photo_folder_trains_exports_and_is_carded_with_its_names_and_rule(tmp_path):
    """The issue's case in one command each: hidden files, a damaged JPEG, grey, RGB and RGBA photos of
    different sizes; `zoo train` with the folder rule, `zoo export`, and the card, which names the classes, the
    rule and the file left out; the bundle carries the same rule for a deployer."""
    from conftest import TINY, invoke_zoo

    root = tmp_path / "photos"
    for i in range(6):
        save(root / "apple" / f"a{i}.jpg", Image.fromarray(RNG.integers(0, 256, (40 + i, 30, 3), dtype=np.uint8)))
        save(root / "pear" / f"p{i}.png", Image.fromarray(RNG.integers(0, 256, (20, 24 + i), dtype=np.uint8)))
    save(root / "pear" / "p9.png", Image.fromarray(RNG.integers(0, 256, (16, 16, 4), dtype=np.uint8)))  # RGBA
    (root / ".DS_Store").write_bytes(b"\0\1")
    (root / "apple" / "._a0.jpg").write_bytes(b"AppleDouble")
    (root / "apple" / "cut.jpg").write_bytes(jpeg_bytes()[:300])
    run = tmp_path / "run"
    settings = [arg for k, v in {**TINY["cnn-digits"], "epochs": 1, "image_size": 8, "image_mode": "grey",
                                 "skip_damaged": "true"}.items() for arg in ("--set", f"{k}={v}")]
    trained = invoke_zoo("train", "cnn-digits", "--data", str(root), *settings, "--out", str(run))
    assert trained.code == 0, trained.err
    assert "skipped 1 damaged image: apple/cut.jpg" in trained.out + trained.err
    exported = invoke_zoo("export", str(run), "--out", str(tmp_path / "bundle"), "--variants", "fp32")
    assert exported.code == 0, exported.err
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    rule = manifest["preprocessing"]
    assert rule["class_names"] == ["apple", "pear"] and rule["color_mode"] == "grey" and rule["image_size"] == [8, 8]
    assert rule["skipped_damaged"] == 1 and rule["source_modes"] == {"L": 6, "RGB": 6, "RGBA": 1}
    carded = invoke_zoo("card", str(tmp_path / "bundle"))
    assert carded.code == 0, carded.err
    card = (tmp_path / "bundle" / "card" / "card.md").read_text()
    assert "apple (0)" in card and "pear (1)" in card and "`apple/cut.jpg`" in card
    assert "| color mode | grey |" in card and str(tmp_path) not in card
