"""Rows: one per variant over seeds (mean, sd, n), and the config keys that differ between runs."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .read import Run


@dataclass
class Stat:
    mean: float
    sd: float | None  # None for a single value
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat | None:
        values = [v for v in values if v is not None and math.isfinite(v)]
        if not values:
            return None
        sd = statistics.stdev(values) if len(values) > 1 else None
        return cls(statistics.fmean(values), sd, len(values))


@dataclass
class Row:
    """One line of the comparison: a run, or a variant's runs over several seeds."""

    runs: list[Run]
    name: str = ""

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def first(self) -> Run:
        return self.runs[0]

    @property
    def status(self) -> str:
        return ", ".join(dict.fromkeys(r.status for r in self.runs))

    @property
    def notes(self) -> list[str]:
        notes = []
        for run in self.runs:
            prefix = f"{run.name}: " if self.n > 1 else ""
            notes += [prefix + p for p in ([run.reason] if run.reason else []) + run.problems]
        return notes

    def metric(self, key: str) -> Stat | None:
        return Stat.of([r.metrics.get(key) for r in self.runs])

    @property
    def seconds(self) -> Stat | None:
        return Stat.of([r.seconds for r in self.runs])

    def reads(self, key: str) -> bool:
        """Whether the model of every run of this row reads the config key (see Run.reads)."""
        return all(r.reads(key) for r in self.runs)

    def value(self, key: str) -> Any:
        """A descriptive field or config key: the value when the runs agree, else `Varies`, the
        list of their values."""
        values = [getattr(r, key) if key in Run.__dataclass_fields__ else config_value(r.config, key)
                  for r in self.runs]
        return values[0] if all(v == values[0] for v in values) else Varies(values)


class Varies(list):
    """The values of a field that differs between the runs of one row."""


def config_value(config: dict | None, key: str) -> Any:
    """A flattened config's value for `key`; a section (training.early_stopping) as a mapping."""
    if not config:
        return None
    if key in config:
        return config[key]
    prefix = key + "."
    section = {k[len(prefix):]: v for k, v in config.items() if k.startswith(prefix)}
    return section or None


def group_runs(runs: Sequence[Run], per_run: bool = False) -> list[Row]:
    """Completed, undamaged runs of the same experiment, variant and config (the seed apart) make
    one row; any other run is a row of its own. A group in which a seed repeats (the same variant
    trained twice) is not averaged: each of its runs is shown."""
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        if per_run or not run.clean or run.config is None:
            key: tuple = ("run", str(run.path))
        else:
            key = (run.experiment, run.variant, json.dumps(run.config, sort_keys=True, default=str))
        groups.setdefault(key, []).append(run)
    rows = []
    for members in groups.values():
        seeds = [m.seed for m in members]
        if len(set(seeds)) < len(seeds):
            rows.extend(Row([m]) for m in members)
        else:
            rows.append(Row(members))
    _name_rows(rows)
    return rows


def _name_rows(rows: list[Row]) -> None:
    """A variant's name where it says which row it is; the run folder's name otherwise."""
    experiments = {r.first.experiment for r in rows} - {None}
    for row in rows:
        clean = all(r.clean for r in row.runs)
        row.name = row.first.variant if clean and row.first.variant else row.first.name
    counts: dict[tuple, int] = {}  # per experiment: two experiments may share variant names
    for row in rows:
        counts[row.first.experiment, row.name] = counts.get((row.first.experiment, row.name), 0) + 1
    for row in rows:
        if counts[row.first.experiment, row.name] > 1 and row.n == 1:
            row.name = row.first.name
        if len(experiments) > 1 and row.first.experiment:
            row.name = f"{row.first.experiment}/{row.name}"


def differing_keys(runs: Sequence[Run]) -> list[str]:
    """Flattened config keys whose values are not the same in every compared run that has a config
    and whose model reads the key: LDA's `training.optimizer` or an MLP's `model.solver` are not
    differences (the model interface says which keys a model reads: nnx.models.base.reads)."""
    configured = [r for r in runs if r.config is not None]
    if len(configured) < 2:
        return []
    # A sweep's record (sweep.values.*) repeats the keys it set, which are compared themselves.
    keys = list(dict.fromkeys(k for r in configured for k in r.config if not k.startswith("sweep.")))

    def differs(key: str) -> bool:
        values = {json.dumps(r.config[key], sort_keys=True, default=str) if key in r.config else "<missing>"
                  for r in configured if r.reads(key)}
        return len(values) > 1

    differ = [k for k in keys if differs(k)]
    # A section set in some runs and null in others (training.early_stopping) is one column, not
    # one per key inside it.
    sections = {k for k in keys if any(other.startswith(k + ".") for other in keys)}
    collapsed = []
    for key in differ:
        outer = next((s for s in sorted(sections, key=len) if key == s or key.startswith(s + ".")), key)
        if outer not in collapsed:
            collapsed.append(outer)
    return collapsed
