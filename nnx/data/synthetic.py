"""Two Gaussian blobs in d dimensions: the perceptron's data (section 2 of the notes).

Class 1 is centred at +distance/2 along a random unit direction u, class 0 at -distance/2, both
with identity covariance. With `separable: true`, points that fall inside the band
|<u, x>| < margin/2, or on the wrong side of it, are redrawn: the hyperplane <u, x> = 0 then
separates the classes with a gap of width `margin`, and the perceptron must converge. Without it
the blobs overlap (for a finite distance), and it cannot.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..errors import DataError
from .base import REGISTRY, DataBase, DataFamily, DataInfo, Dataset, make_dataset


def blobs(n: int, dims: int, distance: float, separable: bool, margin: float,
          rng: np.random.Generator, direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """n points and 0/1 labels; redraws the points inside the margin band when separable."""
    xs, ys, have = [], [], 0
    for _ in range(10_000):
        m = max(2 * (n - have), 64)
        y = rng.integers(0, 2, m)
        sign = 2.0 * y - 1.0
        x = rng.standard_normal((m, dims)) + (sign * distance / 2)[:, None] * direction
        if separable:
            keep = sign * (x @ direction) >= margin / 2
            x, y = x[keep], y[keep]
        xs.append(x)
        ys.append(y)
        have += len(x)
        if have >= n:
            break
    else:
        raise DataError(f"data.margin {margin} is too wide for data.distance {distance}: almost no point "
                        "falls outside the band; lower the margin or raise the distance")
    return np.concatenate(xs)[:n].astype(np.float32), np.concatenate(ys)[:n].astype(np.int32)


def load_synthetic(spec, seed: int, data_dir=None) -> Dataset:
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(spec.dims)
    direction /= np.linalg.norm(direction)
    args = (spec.dims, spec.distance, spec.separable, spec.margin, rng, direction)
    train = blobs(spec.train_size, *args)
    test = blobs(spec.test_size, *args)
    return make_dataset("synthetic", synthetic_info(spec), train, test, spec, seed, direction=direction.tolist())


class SyntheticSpec(DataBase):
    """Two Gaussian classes in `dims` dimensions (labels 0/1), drawn from the run's seed."""

    name: Literal["synthetic"]
    dims: int = Field(2, ge=1, description="input dimension d")
    train_size: int = Field(200, ge=2)
    test_size: int = Field(1000, ge=1)
    distance: float = Field(3.0, ge=0, description="distance between the two class means (unit variance)")
    separable: bool = Field(True, description="drop points inside the margin band, so a hyperplane separates them")
    margin: float = Field(1.0, ge=0, description="separable: width of the empty band between the classes")


def synthetic_info(spec) -> DataInfo:
    return DataInfo(input_shape=(spec.dims,), task="binary", num_classes=2)


def synthetic_preprocessing(spec, dataset) -> dict:
    """Points as they are (columns x1..xd), no scaling."""
    from .preprocessing import features_record

    return features_record([f"x{i + 1}" for i in range(spec.dims)])


FAMILY = REGISTRY.register(DataFamily(SyntheticSpec, synthetic_info, load_synthetic,
                                      train_examples=lambda spec: spec.train_size,
                                      preprocessing=synthetic_preprocessing))
