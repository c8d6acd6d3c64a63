"""The built-in datasets: scikit-learn's 8x8 handwritten digits, as images and as row sequences.

The data ships inside the scikit-learn package, so nothing is downloaded.
"""
from __future__ import annotations

from zoo import DatasetSpec, hookimpl

SOURCE = ("scikit-learn's copy of the UCI 'Optical Recognition of Handwritten Digits' test set "
          "(sklearn.datasets.load_digits): 1,797 images of 8x8 pixels, 16 grey levels, 10 classes")
LICENSE = "CC-BY-4.0 (UCI Machine Learning Repository); scikit-learn itself is BSD-3-Clause"
NOTES = {
    "collection": ("Alpaydin and Kaynak (1998): digits written on preprinted forms by 43 people, scanned and "
                   "normalised with NIST's programs to 32x32 bitmaps, then reduced to 8x8 by counting the "
                   "set pixels in each 4x4 block (0-16). scikit-learn ships UCI's test part, written by 13 "
                   "people who did not write the UCI training part."),
    "preprocessing": ("Grey levels divided by 16 to floats in [0, 1]; no other normalisation. Split once by "
                      "zoo.data: stratified by label, seed 0, 70% train / 10% validation / 20% test."),
    "known_gaps": ("Only about 13 writers, and no writer ids: the split is by sample, not by writer, so one "
                   "person's digits appear in train and test and test scores overstate accuracy on a new "
                   "writer. 8x8 block counts discard stroke detail; there are no letters, no multi-digit "
                   "strings, no rotated, noisy or photographed digits."),
    "biases": ("Writers were volunteers at one university in the 1990s; their age, handedness and schooling "
               "(the way a 1, 4 or 7 is drawn) are not recorded and are unlikely to be representative. "
               "Classes are nearly balanced (about 180 samples each), unlike digits in most real documents."),
    "privacy": ("Public data with no personal information: anonymous 8x8 pixel counts, no writer identity, "
                "no free text; nothing needs protecting beyond attribution under CC-BY-4.0. Runs record the "
                "data's SHA-256, so changed data is detected before a run is resumed or re-evaluated."),
}


CLASS_NAMES = tuple(str(digit) for digit in range(10))
# A digit written on paper, as a file: dark ink on a light background, any size. The dataset's samples are 8x8
# counts of ink in 4x4 blocks of a 32x32 scan, ink bright: grey, averaged down to 8x8 (the box filter is
# that block mean), inverted. `zoo predict cnn-digits digit.png` reads a file by this rule.
RAW_IMAGES = {"color_mode": "grey", "image_size": [8, 8], "resample": "box", "invert": True,
              "exif_orientation": "applied"}


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
                    load=load_images, notes=NOTES, class_names=CLASS_NAMES, raw_input=RAW_IMAGES),
        DatasetSpec(name="digits-rows", layout="sequence", sample_shape=(8, 8), num_classes=10,
                    summary="8x8 handwritten digits as sequences of 8 rows of 8 pixels", source=SOURCE,
                    license=LICENSE, load=load_rows,
                    notes={**NOTES, "preprocessing": NOTES["preprocessing"] + " Each image is read top to "
                           "bottom as a sequence of 8 rows (time steps) of 8 pixels (features)."},
                    class_names=CLASS_NAMES, modality="image",  # images, read row by row
                    raw_input={**RAW_IMAGES, "image_rows": "each row of the grey image is one time step"}),
    ]
