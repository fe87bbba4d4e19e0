"""scikit-learn's bundled 8x8 digits (1,797 images): real data that ships with the install."""

from __future__ import annotations

from typing import Literal

import numpy as np

from .base import REGISTRY, DataBase, DataFamily, DataInfo, Dataset, make_dataset


def load_digits_set(spec, seed: int, data_dir=None) -> Dataset:
    from sklearn.datasets import load_digits  # the data file is inside scikit-learn itself

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[..., None]  # pixels are 0..16
    y = bunch.target.astype(np.int32)
    # A fixed test split (the last 20%, stratified by the order of the file) independent of the seed,
    # so that runs with different seeds are evaluated on the same images.
    order = np.random.default_rng(0).permutation(len(x))
    n_test = len(x) // 5  # 359 of 1,797: DIGITS_TRAIN below is what remains
    test, train = order[:n_test], order[n_test:]
    return make_dataset("digits", digits_info(spec), (x[train], y[train]), (x[test], y[test]), spec, seed)


DIGITS_TRAIN = 1797 - 1797 // 5  # the training images left after the fixed test split


class DigitsSpec(DataBase):
    """scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), bundled with scikit-learn."""

    name: Literal["digits"]


def digits_info(spec) -> DataInfo:
    return DataInfo(input_shape=(8, 8, 1), task="classification", num_classes=10)


def digits_preprocessing(spec, dataset) -> dict:
    from .preprocessing import image_record

    return image_record((8, 8), "grayscale", classes=[str(d) for d in range(10)],
                        note="trained on scikit-learn's 0..16 ink counts / 16; an 8-bit image's pixel / 255 is "
                             "on the same [0, 1] scale, ink high (white on black)")


FAMILY = REGISTRY.register(DataFamily(DigitsSpec, digits_info, load_digits_set,
                                      train_examples=lambda spec: DIGITS_TRAIN, preprocessing=digits_preprocessing))
