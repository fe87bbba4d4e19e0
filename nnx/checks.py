"""Checks of a run's config that need the registries: everything that can be known without
training, found when the experiment is loaded (so `--dry-run` finds it too), with the key to fix.

Each check returns (path, message): the config path the problem is at (for file:line or the
`--set` that set it) and one line saying what is wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def problems(spec, own: dict[str, Any]) -> Iterator[tuple[tuple, str]]:
    """The problems of one run's config. `own`: the sections its variant sets itself."""
    from . import data, models
    from .errors import ConfigError
    from .models.base import NETWORK_SECTIONS
    from .record.metrics import unknown_metric
    from .train import tasks

    family = models.family(spec.model)
    data_family = data.family(spec.data)
    info = data_family.info(spec.data)
    if info.task not in family.tasks:
        yield (("model", "type"), f"model.type: {spec.model.type} does not fit data set {spec.data.name}, a "
                                  f"{info.task} task; {spec.model.type} learns {' and '.join(sorted(family.tasks))} "
                                  f"tasks (nnx config --schema lists every model type)")
        return
    if family.features_only and info.vocab_size is not None:
        yield (("model", "type"), f"model.type: {spec.model.type} does not fit data set {spec.data.name}, whose inputs "
                                  f"are word ids; {spec.model.type} reads numeric features (nnx config --schema "
                                  "lists every model type)")
        return
    if not family.network:
        for section in NETWORK_SECTIONS:
            if own.get(section):
                yield ((section,), f"{section}: {spec.model.type} is fitted in closed form and uses no "
                                   f"{section} settings; remove them from this variant")
        return
    training = spec.training
    try:
        task = tasks.task_for(info.task, training.loss)
    except ConfigError as e:
        yield (("training", "loss"), str(e))
        return
    yield from _sizes(spec, data_family)
    stopping = training.early_stopping
    if stopping is not None:
        split, _, _ = stopping.monitor.partition(".")
        where = ("training", "early_stopping", "monitor")
        if split not in ("validation", "train"):
            yield (where, f"training.early_stopping.monitor: '{stopping.monitor}' must start with 'validation.' "
                          "or 'train.' (e.g. validation.loss)")
        else:
            names = [f"{split}.{m}" for m in task.metric_names(split)]
            problem = unknown_metric(stopping.monitor, names)
            if problem:
                yield (where, f"training.early_stopping.monitor: {problem}")
            elif split == "validation" and spec.data.validation_split == 0:
                yield (where, f"training.early_stopping.monitor is {stopping.monitor} but data.validation_split is "
                              "0; set a validation split or monitor a train metric")
    schedule, epochs = training.optimizer.schedule, training.epochs
    if schedule.name == "warmup_cosine" and schedule.warmup_epochs >= epochs:
        yield (("training", "optimizer", "schedule", "warmup_epochs"),
               f"training.optimizer.schedule.warmup_epochs {schedule.warmup_epochs:g} is not shorter than "
               f"training.epochs {epochs}: the rate would never leave its warm-up; shorten it")
    if schedule.name in ("step", "exponential") and schedule.decay_epochs > epochs:
        yield (("training", "optimizer", "schedule", "decay_epochs"),
               f"training.optimizer.schedule.decay_epochs {schedule.decay_epochs:g} is longer than training.epochs "
               f"{epochs}: the rate would never decay; shorten it or use name: constant")


def _sizes(spec, data_family) -> Iterator[tuple[tuple, str]]:
    """Splits that would be empty, and batches larger than the training split."""
    available = data_family.train_examples(spec.data)
    if available is None:
        return
    subset = spec.data.train_subset
    if subset is not None and subset > available:
        yield (("data", "train_subset"), f"data.train_subset {subset} is more than the {available:,} training "
                                         f"examples of {spec.data.name}; use at most {available}, or null for all")
        return
    total = min(subset or available, available)
    n_val = int(round(total * spec.data.validation_split))
    n_train = total - n_val
    # A tiny train_subset is the likelier cause than the split: name it when it was given.
    at = ("data", "train_subset") if subset is not None else ("data", "validation_split")
    if spec.data.validation_split > 0 and n_val == 0:
        yield (at, f"data.validation_split {spec.data.validation_split:g} of {total} "
                                             "training examples holds out none; raise it, use more data, or set it to 0")
    if n_train == 0:
        yield (at, f"data.validation_split {spec.data.validation_split:g} leaves no "
                                             f"training example of {total}; lower it")
    elif spec.training.batch_size > n_train:
        yield (("training", "batch_size"), f"training.batch_size {spec.training.batch_size} is larger than the "
                                           f"{n_train} training examples; use at most {n_train}")
