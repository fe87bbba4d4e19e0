"""What every loader returns: numpy arrays and what a model needs to know about them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import Field

from ..registry import Registry
from ..spec import Strict

Task = Literal["classification", "binary", "regression"]


@dataclass(frozen=True)
class DataInfo:
    """What a model builder needs to know about its data, and no more."""

    input_shape: tuple[int, ...]
    task: Task = "classification"
    num_classes: int | None = None
    vocab_size: int | None = None

    @property
    def outputs(self) -> int:
        return self.num_classes if self.task == "classification" else 1


class DataBase(Strict):
    """The keys every data set has."""

    validation_split: float = Field(0.2, ge=0, lt=1, description="fraction of the training set held out")
    train_subset: int | None = Field(None, ge=1, description="use only this many training examples")


@dataclass(frozen=True)
class DataFamily:
    """A data set, declared once in its module: its `data:` schema, what a model needs to know of
    it (computed from the spec alone, without reading a file), and its loader."""

    spec: type[DataBase]                           # a pydantic spec with a Literal `name`
    info: Callable[[Any], DataInfo]                # spec -> DataInfo
    load: Callable[..., Dataset]                   # (spec, seed, data_dir) -> Dataset
    train_examples: Callable[[Any], int | None] = lambda spec: None  # the full training set's size, if known
    description: str = ""
    # (spec, loaded Dataset) -> the preprocessing a new input needs to look like this data (pixel
    # scaling and size, columns and their standardization, a vocabulary): plain JSON, written to
    # the run folder's preprocessing.json at training time and applied by `nnx predict`
    # (nnx/data/preprocessing.py says what each kind holds). None: new inputs cannot be prepared.
    preprocessing: Callable[[Any, Any], dict] | None = None


REGISTRY = Registry("nnx.data", tag="name", what="data set")


@dataclass
class Dataset:
    """Train, validation and test splits as numpy arrays; the validation split may be empty."""

    name: str
    info: DataInfo
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    # A text data set's words (id 2 on): its run's preprocessing.json keeps them for `nnx predict`;
    # kept out of `meta`, which lands in summary.json.
    vocabulary: list[str] | None = None

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.x_train), "validation": len(self.x_val), "test": len(self.x_test)}


def unit_pixels(images: np.ndarray) -> np.ndarray:
    """uint8 pixels as float32 in [0, 1]. Divided in place: one float array, not two; each fresh
    array of MNIST's size (188 MB) cost up to 0.7 s of page faults on the project's machine."""
    pixels = images.astype(np.float32)
    pixels /= 255.0
    return pixels


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    """Carve a random validation split out of a training set, reproducibly from the seed."""
    n_val = int(round(len(x) * fraction))
    order = np.random.default_rng(seed).permutation(len(x))
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


def make_dataset(name: str, info: DataInfo, train: tuple, test: tuple, spec, seed: int, **meta) -> Dataset:
    """Apply the spec's train_subset and validation_split, the same way for every data set."""
    x, y = train
    if spec.train_subset is not None and spec.train_subset < len(x):
        keep = np.random.default_rng(seed + 1).permutation(len(x))[: spec.train_subset]
        x, y = x[np.sort(keep)], y[np.sort(keep)]
    x_tr, y_tr, x_val, y_val = split_validation(x, y, spec.validation_split, seed)
    return Dataset(name, info, x_tr, y_tr, x_val, y_val, test[0], test[1], meta=dict(meta))
