"""The data-set registry: `load(spec)` turns a `data:` section into a Dataset of numpy arrays."""

from __future__ import annotations

import importlib

from .base import DataInfo, Dataset, split_validation
from .specs import DataSpec

# name -> "module:function"; each loader takes (spec, seed, data_dir) and returns a Dataset.
LOADERS = {
    "mnist": "nnx.data.idx:load_idx_set",
    "fashion_mnist": "nnx.data.idx:load_idx_set",
    "digits": "nnx.data.digits:load_digits_set",
    "synthetic": "nnx.data.synthetic:load_synthetic",
    "hitters": "nnx.data.islp:load_hitters",
    "nyse": "nnx.data.islp:load_nyse",
    "imdb": "nnx.data.imdb:load_imdb",
    "cifar10": "nnx.data.cifar:load_cifar_set",
    "cifar100": "nnx.data.cifar:load_cifar_set",
}


# name -> what a model needs to know about a data set, without reading its files (count-params
# uses it): a DataInfo, or a function of the data spec returning one. Loaders may add theirs.
INFOS = {
    "mnist": DataInfo(input_shape=(28, 28, 1), task="classification", num_classes=10),
    "fashion_mnist": DataInfo(input_shape=(28, 28, 1), task="classification", num_classes=10),
    "digits": DataInfo(input_shape=(8, 8, 1), task="classification", num_classes=10),
    "synthetic": lambda spec: DataInfo(input_shape=(spec.dims,), task="binary"),
    "hitters": DataInfo(input_shape=(19,), task="regression"),
    "cifar10": DataInfo(input_shape=(32, 32, 3), task="classification", num_classes=10),
    "cifar100": lambda spec: DataInfo(input_shape=(32, 32, 3), task="classification",
                                      num_classes=100 if spec.label_mode == "fine" else 20),
    # Token ids: a sequence of maxlen ids, or a review's distinct ids (the count does not depend on it).
    "imdb": lambda spec: DataInfo(input_shape=(spec.maxlen,), task="binary", vocab_size=spec.num_words + 2),
    "nyse": lambda spec: DataInfo(
        input_shape=(spec.lags, 3 + 5 * spec.day_of_week) if spec.layout == "sequence"
        else (spec.lags * 3 + 5 * spec.day_of_week,), task="regression"),
}


def info_for(spec) -> DataInfo | None:
    """The DataInfo of a data spec without loading the data, or None if it is not known that way."""
    info = INFOS.get(spec.name)
    return info(spec) if callable(info) else info


def load(spec, seed: int = 0, data_dir=None) -> Dataset:
    module, _, function = LOADERS[spec.name].partition(":")
    return getattr(importlib.import_module(module), function)(spec, seed=seed, data_dir=data_dir)


__all__ = ["INFOS", "DataInfo", "DataSpec", "Dataset", "LOADERS", "info_for", "load", "split_validation"]
