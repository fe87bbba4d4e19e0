"""scikit-learn's bundled 8x8 digits (1,797 images): real data that ships with the install."""

from __future__ import annotations

import numpy as np

from .base import DataInfo, Dataset, make_dataset


def load_digits_set(spec, seed: int, data_dir=None) -> Dataset:
    from sklearn.datasets import load_digits  # the data file is inside scikit-learn itself

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[..., None]  # pixels are 0..16
    y = bunch.target.astype(np.int32)
    # A fixed test split (the last 20%, stratified by the order of the file) independent of the seed,
    # so that runs with different seeds are evaluated on the same images.
    order = np.random.default_rng(0).permutation(len(x))
    n_test = len(x) // 5
    test, train = order[:n_test], order[n_test:]
    info = DataInfo(input_shape=(8, 8, 1), task="classification", num_classes=10)
    return make_dataset("digits", info, (x[train], y[train]), (x[test], y[test]), spec, seed)
