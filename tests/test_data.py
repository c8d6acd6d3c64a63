"""Datasets: the fixed split, user files (.npz and IDX), and validation errors."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from zoo.data import DataError, load_data, load_file, read_idx
from zoo.registry import get_dataset


def write_idx(path, array: np.ndarray, gz: bool = False) -> None:
    codes = {np.dtype("uint8"): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}
    array = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def test_digits_split_is_fixed_stratified_and_disjoint():
    data = load_data(get_dataset("digits"), needs_labels=True)
    assert data.sizes() == {"train": 1257, "val": 180, "test": 360}
    assert data.info.sample_shape == (1, 8, 8) and data.info.num_classes == 10
    assert data.train.x.dtype == np.float32 and 0.0 <= data.train.x.min() and data.train.x.max() <= 1.0
    for split in (data.train, data.val, data.test):
        counts = np.bincount(split.y, minlength=10) / len(split)
        assert counts.min() > 0.07 and counts.max() < 0.13, "every class in every split"
    again = load_data(get_dataset("digits"), needs_labels=True)
    assert np.array_equal(data.test.x, again.test.x) and data.sha256 == again.sha256
    rows = load_data(get_dataset("digits-rows"), needs_labels=True)
    assert rows.info.sample_shape == (8, 8) and np.array_equal(rows.test.x, data.test.x[:, 0])


def test_npz_user_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x=rng.integers(0, 256, (100, 6, 6)).astype(np.uint8), y=np.repeat(np.arange(4), 25))
    data = load_data(get_dataset("digits"), needs_labels=True, path=path)
    assert data.info.sample_shape == (1, 6, 6) and data.info.num_classes == 4
    assert sum(data.sizes().values()) == 100 and data.train.x.max() <= 1.0


@pytest.mark.parametrize("x, y, message", [
    (np.full((50, 8, 8), np.nan, np.float32), np.repeat(np.arange(5), 10), "NaN or infinite"),
    (np.full((50, 8, 8), 3.0, np.float32), np.repeat(np.arange(5), 10), "must lie in [0, 1]"),
    (np.zeros((50, 8, 8), np.float32), np.repeat(np.arange(5), 10)[:40], "one label per sample"),
    (np.zeros((50, 8, 8), np.float32), np.repeat(np.arange(5), 10) - 1, "must be 0 or more"),
    (np.zeros((50, 8, 8), np.float32), np.full(50, 0.5), "integer class labels"),
    (np.zeros((50, 8), np.float32), np.repeat(np.arange(5), 10), "takes images"),
    (np.zeros((0, 8, 8), np.float32), np.zeros(0, np.int64), "no samples"),
    (np.zeros((12, 8, 8), np.float32), np.array([0] * 10 + [1] * 2), "class 1 has 2 samples"),
    (np.zeros((50, 8, 8), np.complex64), np.repeat(np.arange(5), 10), "dtype complex64"),
])
def test_npz_validation_errors(tmp_path, x, y, message):
    path = tmp_path / "bad.npz"
    np.savez(path, x=x, y=y)
    with pytest.raises(DataError, match=None) as info:
        load_data(get_dataset("digits"), needs_labels=True, path=path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_npz_missing_labels_and_object_arrays(tmp_path):
    np.savez(tmp_path / "nolabels.npz", x=np.zeros((50, 8, 8), np.float32))
    with pytest.raises(DataError, match="needs labels"):
        load_data(get_dataset("digits"), needs_labels=True, path=tmp_path / "nolabels.npz")
    np.savez(tmp_path / "objects.npz", x=np.array([{"a": 1}] * 3, dtype=object))
    with pytest.raises(DataError, match="refusing to unpickle"):
        load_file(tmp_path / "objects.npz")
    (tmp_path / "fake.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a valid .npz"):
        load_file(tmp_path / "fake.npz")


def test_idx_roundtrip_truncation_and_mnist_folder(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (60, 10, 10)).astype(np.uint8)
    labels = np.repeat(np.arange(3), 20).astype(np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images[:15], gz=True)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels[:15], gz=True)
    assert np.array_equal(read_idx(tmp_path / "train-images-idx3-ubyte"), images)
    floats = rng.random((4, 3)).astype(np.float32)
    write_idx(tmp_path / "floats-idx2", floats)
    assert np.allclose(read_idx(tmp_path / "floats-idx2"), floats)

    data = load_data(get_dataset("digits"), needs_labels=True, path=tmp_path)
    assert len(data.test) == 15, "MNIST's own test split is kept"
    assert data.info.sample_shape == (1, 10, 10) and data.info.num_classes == 3
    single = load_data(get_dataset("digits"), needs_labels=True, path=tmp_path / "train-images-idx3-ubyte")
    assert sum(single.sizes().values()) == 60

    raw = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "cut-idx3-ubyte").write_bytes(raw[:-7])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "cut-idx3-ubyte")
    (tmp_path / "junk-idx3").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(DataError, match="bad magic"):
        read_idx(tmp_path / "junk-idx3")


def test_lengths_travel_through_prepare_split_and_take():
    from zoo.data import Arrays, prepare, split

    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 9, 2)).astype(np.float32)  # sequences keep values outside [0, 1]
    raw = Arrays(x, np.repeat(np.arange(3), 20), rng.integers(1, 10, 60))
    prepared = prepare(raw, "sequence", "toy", needs_labels=True)
    assert prepared.x.min() < 0 and prepared.lengths.dtype == np.int64
    parts = split(prepared, "toy")
    for part in parts:
        rows = [int(np.flatnonzero((x == sample).all(axis=(1, 2)))[0]) for sample in part.x]
        assert part.lengths.tolist() == raw.lengths[rows].tolist()
    given = split({"train": prepared, "val": prepared.take(np.arange(6)), "test": prepared.take(np.arange(6, 12))}, "toy")
    assert [len(p) for p in given] == [60, 6, 6], "given splits are kept, nothing drawn"
    with pytest.raises(DataError, match="sequences of different lengths; this model takes images"):
        prepare(Arrays(x[:, None], raw.y, raw.lengths), "image", "toy", needs_labels=True)


def test_existing_callers_build_info_and_data_as_before():
    from zoo.data import Arrays, Data, DataInfo

    info = DataInfo("toy", "image", (1, 2, 2), 3)
    assert info.class_names == () and not info.variable_length
    part = Arrays(np.zeros((4, 1, 2, 2), np.float32), np.arange(4) % 3)
    data = Data(info, part, part, part, "toy", "0")
    assert data.preprocessing == {} and data.skipped == () and part.lengths is None


def test_registered_datasets_get_a_preprocessing_record_and_keep_their_fingerprint():
    data = load_data(get_dataset("digits"), needs_labels=True)
    assert data.preprocessing["layout"] == "image" and data.preprocessing["input_shape"] == [1, 8, 8]
    assert data.preprocessing["scaling"] == "none: floats in [0, 1] as stored"
    assert data.info.class_names == tuple("0123456789")  # declared by the digits plugin
    # the fingerprints recorded before zoo.sources: runs trained then still resume
    assert data.sha256 == "137caf5884c53c219eac0109000f910b8094dcf6f72cdc2f45620f1d22fadc36"
    rows = load_data(get_dataset("digits-rows"), needs_labels=True)
    assert rows.sha256 == "86fdda63cc6e50724a7af2454aa46fb0ddf9fdfd9a2b85b8d09b03f5ea69f6b4"
