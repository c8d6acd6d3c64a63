"""The built-in datasets: scikit-learn's 8x8 handwritten digits, as images and as row sequences.

The data ships inside the scikit-learn package, so nothing is downloaded.
"""
from __future__ import annotations

from zoo import DatasetSpec, hookimpl

SOURCE = ("scikit-learn's copy of the UCI 'Optical Recognition of Handwritten Digits' test set "
          "(sklearn.datasets.load_digits): 1,797 images of 8x8 pixels, 16 grey levels, 10 classes")
LICENSE = "CC-BY-4.0 (UCI Machine Learning Repository); scikit-learn itself is BSD-3-Clause"


def _digits(sequence: bool):
    from sklearn.datasets import load_digits

    from zoo.data import Arrays

    digits = load_digits()
    images = (digits.images / 16.0).astype("float32")  # 0..16 grey levels -> [0, 1]
    x = images if sequence else images[:, None, :, :]
    return Arrays(x, digits.target.astype("int64"))


def load_images():
    """(1797, 1, 8, 8) images in [0, 1] with labels 0-9."""
    return _digits(sequence=False)


def load_rows():
    """(1797, 8, 8): each image read top to bottom as 8 time steps of 8 pixels."""
    return _digits(sequence=True)


@hookimpl
def zoo_datasets():
    return [
        DatasetSpec(name="digits", layout="image", sample_shape=(1, 8, 8), num_classes=10,
                    summary="8x8 handwritten digits as 1x8x8 images", source=SOURCE, license=LICENSE,
                    load=load_images),
        DatasetSpec(name="digits-rows", layout="sequence", sample_shape=(8, 8), num_classes=10,
                    summary="8x8 handwritten digits as sequences of 8 rows of 8 pixels", source=SOURCE,
                    license=LICENSE, load=load_rows),
    ]
