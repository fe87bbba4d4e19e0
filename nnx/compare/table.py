"""The comparison: find, read, group and sort runs; its columns, their headers, and each cell's text
(what every format shows)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..record import metrics as metric_registry
from ..record.metrics import SPLITS, maximize
from .find import find_runs
from .group import Row, Stat, Varies, config_value, differing_keys, group_runs
from .read import Run, read_runs

# Metric leaves shown by default, in this order; accuracy repeats error. A loss column that repeats
# another metric in every row (the MSE of a squared-error fit) is left out too (_repeats).
DEFAULT_LEAVES = ("error", "mse", "mae", "r2", "auc", "loss")
HIDDEN_LEAVES = {"accuracy"}
PLAIN_COLUMNS = ("run", "experiment", "n", "status", "notes", "model", "task", "seeds", "params", "epochs",
                 "best_epoch", "seconds", "device", "chosen")
HEADERS = {"best_epoch": "best epoch", "differs": "what differs"}
# Config keys that a plain column already says: `model` is model.type, `epochs` the epochs trained.
SAID_BY_COLUMN = {"model.type": "model", "training.epochs": "epochs"}


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
    best_by: str | None = None      # --best-by: the validation metric a setting is chosen on
    chosen: list[Row] = field(default_factory=list)    # the row chosen in each experiment
    _formats: dict[str, Callable[[float], str]] = field(default_factory=dict, repr=False)

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
        if self.best_by:
            best = "highest" if _maximize(self.best_by) else "lowest"
            test = _test_of(self.best_by)
            parts.append(f"chosen (✓): the {best} {self.best_by} in each experiment"
                         + (f"; its {test} is the estimate to report" if test in self.metrics else ""))
        return "; ".join(parts) + "."

    def is_chosen(self, row: Row) -> bool:
        return any(row is chosen for chosen in self.chosen)

    def section_text(self, column: str, value: dict) -> str:
        """A differing section (training.early_stopping, set in some runs, null in others) by what
        tells the rows that set it apart; "on" where they all set it alike."""
        sections = [config_value(r.config, column) for r in self.runs if r.config is not None]
        sections = [s for s in sections if isinstance(s, dict)]
        own = {k: v for k, v in value.items() if not all(k in s and s[k] == v for s in sections)}
        return format_value(own) if own else "on"

    def number_format(self, column: str) -> Callable[[float], str]:
        """One format for every number of a metric column, chosen from the column's values."""
        if column not in self._formats:
            values = [v for row in self.rows for stat in [row.metric(column)] if stat
                      for v in (stat.mean, stat.sd) if v is not None]
            self._formats[column] = column_format(column, values)
        return self._formats[column]


def compare(paths: Iterable[str | Path] = (), metrics: Sequence[str] = (), columns: str | Sequence[str] | None = None,
            per_run: bool = False, root: str | Path = "outputs", best_by: str | None = None) -> Comparison:
    """Find, read, group and sort runs; `metrics[0]` sorts (default: test error for classifiers,
    test MSE for regressions, else test loss; with `best_by`, that metric). `best_by` (a
    validation metric) marks the row best on it in each experiment: `Comparison.chosen`."""
    if best_by is not None:
        best_by = _validation_metric(best_by)
    runs = read_runs(find_runs(paths, root))
    rows = group_runs(runs, per_run)
    keys = list(dict.fromkeys(k for r in runs for k in r.metrics))
    if best_by is not None:
        best_by = resolve_metric(best_by, keys, option="--best-by")
    metric_names = [resolve_metric(m, keys) for m in metrics] or [best_by or _default_metric(runs)]
    sort_metric = metric_names[0]
    rows = _sorted(rows, sort_metric)
    differs = [k for k in differing_keys(runs) if k not in SAID_BY_COLUMN]
    comparison = Comparison(rows, sort_metric, [], differs, keys, best_by=best_by)
    if best_by is not None:
        comparison.chosen = _chosen(rows, best_by)
        metric_names += [m for m in (best_by, _test_of(best_by)) if m in keys and m not in metric_names]
    comparison.columns = _columns(comparison, columns, metric_names)
    comparison.custom_columns = columns is not None
    return comparison


def _validation_metric(name: str) -> str:
    """--best-by's metric: a validation metric ('error' means 'validation.error'); never test."""
    key = name if "." in name else f"validation.{name}"
    split, _, leaf = key.partition(".")
    split = "validation" if split == "val" else split
    if split == "test":
        raise ConfigError(f"--best-by {name}: a setting chosen on the test split makes its test {leaf} an optimistic "
                          f"estimate; choose on validation (--best-by validation.{leaf}) and report the chosen "
                          "row's test column")
    if split != "validation":
        raise ConfigError(f"--best-by {name}: choose on the validation split (--best-by validation.{leaf}); "
                          "the training split rewards the setting that overfits most")
    return f"validation.{leaf}"


def _test_of(key: str) -> str:
    return "test." + key.split(".", 1)[1]


def _chosen(rows: Sequence[Row], metric: str) -> list[Row]:
    """The completed row best on `metric` (its mean over seeds) in each experiment."""
    sign = -1 if _maximize(metric) else 1
    best: dict[str | None, tuple[float, Row]] = {}
    for row in rows:
        stat = row.metric(metric)
        if stat is None or row.status != "completed":
            continue
        experiment = row.first.experiment
        if experiment not in best or sign * stat.mean < best[experiment][0]:
            best[experiment] = (sign * stat.mean, row)
    return [row for _, row in best.values()]


def resolve_metric(name: str, available: Sequence[str], option: str = "--metric") -> str:
    """'test.accuracy' as is; 'accuracy' means 'test.accuracy'; 'val.' means 'validation.'."""
    key = name if "." in name else f"test.{name}"
    if key.startswith("val."):
        key = "validation." + key[4:]
    if key not in available:
        shown = ", ".join(available) or "none: no run has metrics yet"
        raise ConfigError(f"{option} {name}: no compared run has {key}; available: {shown}")
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


def _default_metric_columns(c: Comparison, chosen: Sequence[str]) -> list[str]:
    columns = []
    for split in ("validation", "test"):
        leaves = [k.split(".", 1)[1] for k in c.metrics if k.startswith(split + ".")]
        ordered = [x for x in DEFAULT_LEAVES if x in leaves] + \
                  [x for x in leaves if x not in DEFAULT_LEAVES and x not in HIDDEN_LEAVES]
        columns += [f"{split}.{x}" for x in ordered]
    columns = [col for col in columns if col in chosen or not _repeats(c.rows, col, columns)]
    columns += [m for m in chosen if m not in columns]
    if c.best_by:  # the chosen-on metric first, its test metric beside it
        pair = [m for m in (c.best_by, _test_of(c.best_by)) if m in columns]
        columns = pair + [col for col in columns if col not in pair]
    return columns


def _repeats(rows: Sequence[Row], column: str, columns: Sequence[str]) -> bool:
    """A loss column whose value is, in every row that has it, that of another metric column of
    the same split (a squared-error fit's loss is its MSE, an absolute-error fit's its MAE)."""
    split, _, leaf = column.partition(".")
    if leaf != "loss":
        return False
    others = [col for col in columns if col != column and col.startswith(split + ".")]
    values = [(row, row.metric(column)) for row in rows]
    values = [(row, stat.mean) for row, stat in values if stat is not None]
    return bool(values) and all(
        any((other := row.metric(col)) is not None and math.isclose(value, other.mean, rel_tol=1e-6, abs_tol=1e-12)
            for col in others)
        for row, value in values)


def _columns(c: Comparison, columns: str | Sequence[str] | None, chosen: Sequence[str]) -> list[str]:
    if columns is None:
        shown = ["run"]
        if c.best_by:
            shown.append("chosen")
        if any(row.n > 1 for row in c.rows):
            shown.append("n")
        if any(row.status != "completed" for row in c.rows):
            shown.append("status")
        shown += ["model", "differs", "params", "epochs"]
        if any(r.best_epoch is not None for r in c.runs):
            shown.append("best_epoch")
        shown += _default_metric_columns(c, chosen)
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


def short_headers(columns: Sequence[str], keys: Sequence[str]) -> dict[str, str]:
    """Headers for config-key columns: the shortest dotted tail that names one column
    ('regularization.l2' -> 'l2'; 'training.optimizer.name' -> 'optimizer', a section's name
    naming the section), longer where two would read alike or a plain column has that name."""
    taken = {header(col) for col in columns if col not in keys} | set(metric_registry.METRICS)
    parts = {k: (k[: -len(".name")] if k.endswith(".name") else k).split(".") for k in keys}
    out: dict[str, str] = {}
    for n in range(1, max((len(p) for p in parts.values()), default=1) + 1):
        for key, p in parts.items():
            if key in out:
                continue
            tail = ".".join(p[-n:])
            clash = tail in taken or any(".".join(q[-n:]) == tail for k, q in parts.items() if k != key)
            if not clash or n >= len(p):
                out[key] = tail if not clash else key
        taken |= set(out.values())
    return out


# --------------------------------------------------------------------------------------------
# Cells


def format_metric(key: str, value: float) -> str:
    return metric_registry.format_value(key, value)


def column_format(key: str, values: Sequence[float]) -> Callable[[float], str]:
    """The format of a metric column: percentages with two decimals (three when every value is
    below 1%); other metrics with four significant digits of the column's largest value, with
    thousands separators (66,203 and 110,372 for squared errors in thousands of dollars squared)."""
    m = metric_registry.metric(key)
    values = [abs(v) for v in values if v is not None and math.isfinite(v)]
    largest = max(values, default=0.0)
    if m is not None and m.percent:
        decimals = 3 if 0 < largest < 0.01 else 2
        return lambda v: f"{v:.{decimals}%}"
    decimals = 4 if largest == 0 else min(8, max(0, 3 - math.floor(math.log10(largest))))
    return lambda v: f"{v:,.{decimals}f}"


def format_stat(key: str, stat: Stat | None, fmt: Callable[[float], str] | None = None) -> str:
    if stat is None:
        return "-"
    fmt = fmt or (lambda v: format_metric(key, v))
    return fmt(stat.mean) if stat.sd is None else f"{fmt(stat.mean)} ± {fmt(stat.sd)}"


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


def cell(row: Row, column: str, c: Comparison | None = None) -> str:
    """The text of one table cell (a metric in its column's format when the comparison is given;
    a config key that the row's model does not read is blank)."""
    if column == "run":
        return row.name
    if column == "chosen":
        return "✓" if c is not None and c.is_chosen(row) else ""
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
        return format_stat(column, row.metric(column), c.number_format(column) if c is not None else None)
    if row.first.config is not None and not row.reads(column):
        return ""
    value = row.value(column)  # a config key
    if isinstance(value, dict) and c is not None and column in c.differs:
        return c.section_text(column, value)
    return format_value(value)
