"""Data sets: each module declares its families (spec, info, loader) in `REGISTRY`; this module
derives the `data:` schema from them and loads a spec into a Dataset of numpy arrays.

Adding a data set is adding a module here that registers a `DataFamily`: nothing else changes.
"""

from __future__ import annotations

from .base import REGISTRY, DataBase, DataFamily, DataInfo, Dataset, split_validation

DataSpec = REGISTRY.union()


def family(spec_or_name) -> DataFamily:
    return REGISTRY.get(spec_or_name if isinstance(spec_or_name, str) else spec_or_name.name)


def info_for(spec) -> DataInfo:
    """What a model needs to know about a data set, from its spec alone (no file is read)."""
    return family(spec).info(spec)


def load(spec, seed: int = 0, data_dir=None) -> Dataset:
    return family(spec).load(spec, seed=seed, data_dir=data_dir)


def names() -> list[str]:
    return REGISTRY.names()


__all__ = ["REGISTRY", "DataBase", "DataFamily", "DataInfo", "DataSpec", "Dataset", "family", "info_for",
           "load", "names", "split_validation"]
