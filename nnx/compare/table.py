"""The comparison: find, read, group and sort runs; its columns, their headers, and each cell's text
(what every format shows)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..record import metrics as metric_registry
from ..record.metrics import SPLITS, maximize
from .find import find_runs
from .group import Row, Stat, Varies, differing_keys, group_runs
from .read import Run, read_runs

# Metric leaves shown by default, in this order; accuracy and mse repeat error and loss.
DEFAULT_LEAVES = ("error", "loss", "mae", "r2")
HIDDEN_LEAVES = {"accuracy", "mse"}
PLAIN_COLUMNS = ("run", "experiment", "n", "status", "notes", "model", "task", "seeds", "params", "epochs",
                 "best_epoch", "seconds", "device")
HEADERS = {"best_epoch": "best epoch", "differs": "what differs"}


# --------------------------------------------------------------------------------------------
# The comparison


@dataclass
class Comparison:
    rows: list[Row]
    metric: str                     # the sort metric, e.g. "test.error"
    columns: list[str]              # what the table shows
    differs: list[str]              # config keys that differ between runs
    metrics: list[str] = field(default_factory=list)   # every metric key some run has
    custom_columns: bool = False    # columns chosen with --columns (csv then keeps to them)

    @property
    def runs(self) -> list[Run]:
        return [r for row in self.rows for r in row.runs]

    @property
    def best(self) -> Row | None:
        ranked = [row for row in self.rows if row.metric(self.metric) is not None]
        return ranked[0] if ranked else None

    @property
    def note(self) -> str:
        parts = []
        if any(r.at_best for r in self.runs):
            parts.append("metrics at the best epoch chosen by early stopping (best epoch), "
                         "otherwise at the last epoch")
        else:
            parts.append("metrics at the last epoch")
        if any(row.n > 1 for row in self.rows):
            parts.append("mean ± sd over n seeds")
        order = "highest" if _maximize(self.metric) else "lowest"
        parts.append(f"sorted by {self.metric}, {order} first")
        return "; ".join(parts) + "."


def compare(paths: Iterable[str | Path] = (), metrics: Sequence[str] = (), columns: str | Sequence[str] | None = None,
            per_run: bool = False, root: str | Path = "outputs") -> Comparison:
    """Find, read, group and sort runs; `metrics[0]` sorts (default: test error for classifiers,
    test MSE for regressions, else test loss)."""
    runs = read_runs(find_runs(paths, root))
    rows = group_runs(runs, per_run)
    keys = list(dict.fromkeys(k for r in runs for k in r.metrics))
    metric_names = [resolve_metric(m, keys) for m in metrics] or [_default_metric(runs)]
    sort_metric = metric_names[0]
    rows = _sorted(rows, sort_metric)
    differs = differing_keys(runs)
    comparison = Comparison(rows, sort_metric, [], differs, keys)
    comparison.columns = _columns(comparison, columns, metric_names)
    comparison.custom_columns = columns is not None
    return comparison


def resolve_metric(name: str, available: Sequence[str]) -> str:
    """'test.accuracy' as is; 'accuracy' means 'test.accuracy'; 'val.' means 'validation.'."""
    key = name if "." in name else f"test.{name}"
    if key.startswith("val."):
        key = "validation." + key[4:]
    if key not in available:
        shown = ", ".join(available) or "none: no run has metrics yet"
        raise ConfigError(f"--metric {name}: no compared run has {key}; available: {shown}")
    return key


def _default_metric(runs: Sequence[Run]) -> str:
    tasks = {r.task for r in runs if r.task}
    keys = {k for r in runs for k in r.metrics}
    if tasks and tasks <= {"classification", "binary"} and "test.error" in keys:
        return "test.error"
    if tasks == {"regression"} and "test.mse" in keys:
        return "test.mse"  # comparable whichever loss (training.loss) each run trained on
    return "test.loss"


def _maximize(key: str) -> bool:
    return maximize(key)


def _sorted(rows: list[Row], metric: str) -> list[Row]:
    sign = -1 if _maximize(metric) else 1

    def key(row: Row):
        stat = row.metric(metric)
        return (stat is None, sign * stat.mean if stat else 0.0)

    return sorted(rows, key=key)  # stable: rows without the metric keep their folder order


def _default_metric_columns(keys: Sequence[str], chosen: Sequence[str]) -> list[str]:
    columns = []
    for split in ("validation", "test"):
        leaves = [k.split(".", 1)[1] for k in keys if k.startswith(split + ".")]
        ordered = [x for x in DEFAULT_LEAVES if x in leaves] + \
                  [x for x in leaves if x not in DEFAULT_LEAVES and x not in HIDDEN_LEAVES]
        columns += [f"{split}.{x}" for x in ordered]
    columns += [m for m in chosen if m not in columns]
    return columns


def _columns(c: Comparison, columns: str | Sequence[str] | None, chosen: Sequence[str]) -> list[str]:
    if columns is None:
        shown = ["run"]
        if any(row.n > 1 for row in c.rows):
            shown.append("n")
        if any(row.status != "completed" for row in c.rows):
            shown.append("status")
        shown += ["model", "differs", "params", "epochs", "best_epoch"]
        shown += _default_metric_columns(c.metrics, chosen)
        shown += ["seconds", "device"]
        if any(row.notes for row in c.rows):
            shown.append("notes")
        return shown
    names = [x.strip() for x in columns.split(",")] if isinstance(columns, str) else list(columns)
    config_keys = {k.rsplit(".", i)[0] for r in c.runs for k in (r.config or {}) for i in range(k.count(".") + 1)}
    known = set(PLAIN_COLUMNS) | {"differs"} | set(c.metrics) | config_keys
    aliases = {"best epoch": "best_epoch", "best-epoch": "best_epoch", "variant": "run", "name": "run"}
    result = []
    for name in filter(None, names):
        name = aliases.get(name, name)
        if name.startswith("val."):
            name = "validation." + name[4:]
        if name not in known:
            raise ConfigError(f"--columns {name}: unknown column; choose from {', '.join(PLAIN_COLUMNS)}, "
                              f"differs, a metric ({', '.join(c.metrics[:6])}, ...) or a config key "
                              "such as model.type")
        result.append(name)
    if not result:
        raise ConfigError("--columns: give at least one column, e.g. --columns run,test.error")
    return result


def expanded_columns(c: Comparison) -> list[str]:
    """The columns with `differs` replaced by the differing config keys."""
    out = []
    for col in c.columns:
        out += [k for k in c.differs if k not in out] if col == "differs" else [col]
    return out


def header(column: str) -> str:
    """'validation.error' -> 'val error'; config keys stay dotted."""
    split, _, leaf = column.partition(".")
    if split in SPLITS and leaf:
        return f"{'val' if split == 'validation' else split} {leaf}"
    return HEADERS.get(column, column)


# --------------------------------------------------------------------------------------------
# Cells


def format_metric(key: str, value: float) -> str:
    return metric_registry.format_value(key, value)


def format_stat(key: str, stat: Stat | None) -> str:
    if stat is None:
        return "-"
    text = format_metric(key, stat.mean)
    return text if stat.sd is None else f"{text} ± {format_metric(key, stat.sd)}"


def format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Varies):
        return " / ".join(format_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={format_value(v)}" for k, v in value.items())
    if isinstance(value, list) and value and all(isinstance(v, int | float | str) or v is None for v in value):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def cell(row: Row, column: str) -> str:
    """The text of one table cell."""
    if column == "run":
        return row.name
    if column == "n":
        return str(row.n)
    if column == "status":
        return row.status
    if column == "notes":
        return "; ".join(row.notes)
    if column == "seconds":
        stat = row.seconds
        if stat is None:
            return "-"
        return f"{stat.mean:.1f}" if stat.sd is None else f"{stat.mean:.1f} ± {stat.sd:.1f}"
    if column in ("params", "epochs", "best_epoch", "seeds"):
        field_ = "seed" if column == "seeds" else column
        values = [getattr(r, field_) for r in row.runs]
        if all(v == values[0] for v in values):
            values = values[:1]
        return "/".join("-" if v is None else (f"{v:,}" if column == "params" else str(v)) for v in values)
    if column in ("model", "task", "device", "experiment"):
        return format_value(row.value(column))
    if column.split(".", 1)[0] in SPLITS:
        return format_stat(column, row.metric(column))
    return format_value(row.value(column))  # a config key
