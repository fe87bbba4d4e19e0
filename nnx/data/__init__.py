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
    "cifar10": "nnx.data.cifar:load_cifar_set",
    "cifar100": "nnx.data.cifar:load_cifar_set",
}


def load(spec, seed: int = 0, data_dir=None) -> Dataset:
    module, _, function = LOADERS[spec.name].partition(":")
    return getattr(importlib.import_module(module), function)(spec, seed=seed, data_dir=data_dir)


__all__ = ["DataInfo", "DataSpec", "Dataset", "LOADERS", "load", "split_validation"]
