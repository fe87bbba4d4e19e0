"""`nnx compare`: run folders -> rows -> one row per variant over seeds -> a table, and curves.

    find_runs(paths)        run folders from run folders, experiment folders and globs
                            (no path: every experiment under outputs/)
    read_runs(folders)      one `Run` per folder, read tolerantly: problems are kept, never raised
    group_runs(runs)        one `Row` per variant and config over seeds (mean, sd, n);
                            incomplete or damaged runs stay rows of their own
    compare(paths, ...)     the whole pipeline: a `Comparison` with sorted rows and chosen columns
    render_table / render_markdown / render_csv / to_json / plot_curves: the outputs

Metrics come from `summary.json` (validation and test: those of the restored best epoch when early
stopping restored weights, else of the last epoch) and from `metrics.jsonl` (train metrics, curves,
and everything an incomplete run has). Nothing here imports JAX: comparing is instant.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .runs import is_run_folder, read_run, run_state

SPLITS = ("train", "validation", "test")
HIGHER_IS_BETTER = {"accuracy", "r2", "auc"}
PERCENT = {"accuracy", "error"}
# Keys of config.yaml that name a run rather than describe it: never a "what differs" column.
IDENTITY_KEYS = {"experiment", "variant", "seed"}
# Metric leaves shown by default, in this order; accuracy and mse repeat error and loss.
DEFAULT_LEAVES = ("error", "loss", "mae", "r2")
HIDDEN_LEAVES = {"accuracy", "mse"}
FORMATS = ("table", "markdown", "csv", "json")
PLAIN_COLUMNS = ("run", "experiment", "n", "status", "notes", "model", "task", "seeds", "params", "epochs",
                 "best_epoch", "seconds", "device")
HEADERS = {"best_epoch": "best epoch", "differs": "what differs"}


# --------------------------------------------------------------------------------------------
# Finding run folders


def find_runs(paths: Iterable[str | Path] = (), root: str | Path = "outputs") -> list[Path]:
    """Run folders named by `paths`: run folders, experiment folders (their runs), folders of
    experiments, or glob patterns. With no path, every run of every experiment under `root`."""
    paths = [str(p) for p in paths]
    if not paths:
        if not Path(root).is_dir():
            raise ConfigError(f"no runs to compare: {root}/ does not exist; train an experiment first "
                              "(nnx train experiments/quickstart.yaml) or name run folders")
        paths = [str(root)]
    found: list[Path] = []
    for arg in paths:
        if glob.has_magic(arg):
            matches = [Path(m) for m in sorted(glob.glob(arg))]
        else:
            if not Path(arg).exists():
                raise ConfigError(f"{arg}: no such run or experiment folder")
            matches = [Path(arg)]
        for match in matches:
            found.extend(_runs_under(match))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise ConfigError(f"no run folders found in {', '.join(paths)}; a run folder holds config.yaml, "
                          "status.json or summary.json (train one with: nnx train EXPERIMENT.yaml)")
    return unique


def _runs_under(path: Path, depth: int = 2) -> list[Path]:
    """A run folder, or the run folders up to `depth` levels below (experiment, then outputs/)."""
    if is_run_folder(path):
        return [path]
    if depth == 0 or not path.is_dir():
        return []
    runs = []
    for child in sorted(path.iterdir()):
        if child.is_dir() and not child.name.startswith("."):
            runs.extend(_runs_under(child, depth - 1))
    return runs


# --------------------------------------------------------------------------------------------
# Reading one run


@dataclass
class Run:
    """What one run folder says, read tolerantly: missing parts are None, problems are listed."""

    path: Path
    experiment: str | None = None
    variant: str | None = None
    seed: int | None = None
    status: str = "incomplete"
    reason: str | None = None
    task: str | None = None
    model: str | None = None
    device: str | None = None
    params: int | None = None
    epochs: int | None = None
    best_epoch: int | None = None
    metrics_epoch: int | None = None       # the epoch the train/validation metrics are taken from
    at_best: bool = False                  # metrics are those of early stopping's best epoch
    seconds: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)   # "test.accuracy" -> value
    config: dict[str, Any] | None = None   # flattened config.yaml, without experiment/variant/seed
    curves: list[dict] = field(default_factory=list)          # the records of metrics.jsonl
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def clean(self) -> bool:
        return self.status == "completed" and not self.problems


def read_runs(folders: Iterable[str | Path]) -> list[Run]:
    return [read_one(folder) for folder in folders]


def read_one(folder: str | Path) -> Run:
    record = read_run(folder)
    run = Run(Path(folder), problems=list(record.problems))
    summary = _mapping(record.summary, "summary.json", run.problems)
    config = _mapping(record.config, "config.yaml", run.problems)
    status = _mapping(record.status, "status.json", run.problems)
    run.curves = [m for m in record.metrics if isinstance(m, dict) and _is_int(m.get("epoch"))]
    if len(run.curves) < len(record.metrics):
        run.problems.append("metrics.jsonl: records without an epoch number")
    if config is not None:
        run.config = {k: v for k, v in flatten(config).items() if k not in IDENTITY_KEYS}
    run.status = run_state(status, summary)
    if status and run.status != "completed" and isinstance(status.get("reason"), str):
        run.reason = status["reason"]
    if run.status == "crashed":
        run.reason = f"its process ({status['pid']}) is gone; resume with: nnx train --resume {folder}"
    if not (record.summary is not None or record.config is not None or record.metrics):
        run.problems.append("no summary.json, config.yaml or metrics.jsonl")

    def pick(key, kind, *sources):
        for source in sources:
            value = source.get(key) if isinstance(source, dict) else None
            if value is not None:
                if isinstance(value, kind) and not isinstance(value, bool):
                    return value
                kind_name = {int: "an integer", str: "text"}[kind]
                run.problems.append(f"{'summary.json' if source is summary else 'config.yaml'}: "
                                    f"{key} is not {kind_name}")
        return None

    run.experiment = pick("experiment", str, summary, config)
    run.variant = pick("variant", str, summary, config)
    run.seed = pick("seed", int, summary, config)
    run.model = pick("model", str, summary) or _model_type(config)
    run.device = pick("device", str, summary)
    run.task = pick("task", str, summary)
    run.params = pick("params", int, summary)
    if summary is not None:
        _from_summary(run, summary, config)
    else:
        _from_curves(run, config)
    if run.task is None:
        run.task = _guess_task(run.metrics)
    return run


def _from_summary(run: Run, summary: dict, config: dict | None) -> None:
    """A finished run: validation and test metrics as summary.json reports them."""
    epochs, best, seconds = summary.get("epochs"), summary.get("best_epoch"), summary.get("seconds")
    run.epochs = epochs if _is_int(epochs) else len(run.curves) or None
    run.best_epoch = best if _is_int(best) else None
    run.seconds = float(seconds) if _is_number(seconds) else None
    restored = _early_stopping(config).get("restore_best", True) is not False
    run.at_best = run.best_epoch is not None and restored
    if run.best_epoch is not None and not restored:
        run.problems.append("early stopping kept the last weights (restore_best: false): "
                            "metrics are of the last epoch")
    run.metrics_epoch = run.best_epoch if run.at_best else (run.epochs or None)
    for split in ("validation", "test"):
        _add_metrics(run, split, summary.get(split), "summary.json")
    record = _curve_at(run.curves, run.metrics_epoch)
    if record is not None:
        _add_metrics(run, "train", record.get("train"), "metrics.jsonl")


def _from_curves(run: Run, config: dict | None) -> None:
    """An unfinished run: what metrics.jsonl has, at the epoch early stopping would choose so far."""
    if not run.curves:
        return
    run.epochs = len(run.curves)
    run.seconds = sum(float(c["seconds"]) for c in run.curves if _is_number(c.get("seconds")))
    record = run.curves[-1]
    stopping = _early_stopping(config)
    if stopping and stopping.get("restore_best", True) is not False:
        best = best_record(run.curves, stopping.get("monitor") or "validation.loss", stopping.get("mode", "auto"))
        if best is not None:
            record, run.best_epoch, run.at_best = best, best["epoch"], True
    run.metrics_epoch = record["epoch"]
    for split in ("train", "validation"):
        _add_metrics(run, split, record.get(split), "metrics.jsonl")


def best_record(curves: Sequence[dict], monitor: str, mode: str = "auto") -> dict | None:
    """The epoch record early stopping keeps: the first with the best value of `monitor`."""
    split, _, leaf = monitor.partition(".")
    maximize = leaf in HIGHER_IS_BETTER if mode == "auto" else mode == "max"
    best, best_value = None, None
    for record in curves:
        value = (record.get(split) or {}).get(leaf) if isinstance(record.get(split), dict) else None
        if not _is_number(value) or math.isnan(value):
            continue
        if best_value is None or (value > best_value if maximize else value < best_value):
            best, best_value = record, value
    return best


def _add_metrics(run: Run, split: str, metrics: Any, source: str) -> None:
    if metrics is None:
        return
    if not isinstance(metrics, dict):
        run.problems.append(f"{source}: {split} is not a mapping of metrics")
        return
    for leaf, value in metrics.items():
        if _is_number(value):
            run.metrics[f"{split}.{leaf}"] = float(value)
        else:
            run.problems.append(f"{source}: {split}.{leaf} is not a number")
    if f"{split}.accuracy" in run.metrics and f"{split}.error" not in run.metrics:
        run.metrics[f"{split}.error"] = 1.0 - run.metrics[f"{split}.accuracy"]


def _mapping(value: Any, name: str, problems: list[str]) -> dict | None:
    if value is None or isinstance(value, dict):
        return value
    problems.append(f"{name}: not a mapping")
    return None


def _early_stopping(config: dict | None) -> dict:
    training = (config or {}).get("training")
    stopping = training.get("early_stopping") if isinstance(training, dict) else None
    return stopping if isinstance(stopping, dict) else {}


def _model_type(config: dict | None) -> str | None:
    model = (config or {}).get("model")
    kind = model.get("type") if isinstance(model, dict) else None
    return kind if isinstance(kind, str) else None


def _curve_at(curves: list[dict], epoch: int | None) -> dict | None:
    if epoch is None:
        return None
    return next((c for c in curves if c["epoch"] == epoch), None)


def _guess_task(metrics: dict[str, float]) -> str | None:
    leaves = {k.rsplit(".", 1)[-1] for k in metrics}
    if "accuracy" in leaves or "error" in leaves:
        return "classification"
    if "r2" in leaves or "mse" in leaves:
        return "regression"
    return None


def flatten(mapping: dict, prefix: str = "") -> dict[str, Any]:
    """{'model': {'dropout': [0.4]}} -> {'model.dropout': [0.4]}; lists stay values."""
    flat = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------
# Rows: one per variant over seeds


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
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.name] = counts.get(row.name, 0) + 1
    for row in rows:
        if counts[row.name] > 1 and row.n == 1:
            row.name = row.first.name
        if len(experiments) > 1 and row.first.experiment:
            row.name = f"{row.first.experiment}/{row.name}"


def differing_keys(runs: Sequence[Run]) -> list[str]:
    """Flattened config keys whose values are not the same in every compared run that has a config."""
    configs = [r.config for r in runs if r.config is not None]
    if len(configs) < 2:
        return []
    keys = list(dict.fromkeys(k for c in configs for k in c))
    differ = [k for k in keys
              if len({json.dumps(c[k], sort_keys=True, default=str) if k in c else "<missing>" for c in configs}) > 1]
    # A section set in some runs and null in others (training.early_stopping) is one column, not
    # one per key inside it.
    sections = {k for k in keys if any(other.startswith(k + ".") for other in keys)}
    collapsed = []
    for key in differ:
        outer = next((s for s in sorted(sections, key=len) if key == s or key.startswith(s + ".")), key)
        if outer not in collapsed:
            collapsed.append(outer)
    return collapsed


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


def _maximize(metric: str) -> bool:
    return metric.rsplit(".", 1)[-1] in HIGHER_IS_BETTER


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
    if key.rsplit(".", 1)[-1] in PERCENT:
        return f"{value:.2%}"
    return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}"


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


# --------------------------------------------------------------------------------------------
# Formats


def render_table(c: Comparison, title: str | None = None):
    """A Rich table; the best value of the sort metric in bold green. What is wrong with a run is
    listed under the table (the notes), not in a column, so that the table stays narrow."""
    from rich.table import Table

    columns = [col for col in expanded_columns(c) if col != "notes"]
    notes = [f"{row.name}: {note}" for row in c.rows for note in row.notes] if "notes" in c.columns else []
    table = Table(title=_escape(f"{title or f'{len(c.runs)} run(s)'}: {c.note}"), title_justify="left",
                  caption=_escape("\n".join(notes)) if notes else None, caption_justify="left")
    for col in columns:
        right = _is_numeric_column(col)
        folds = col in c.differs or col not in (*PLAIN_COLUMNS, *c.metrics)
        table.add_column(header(col), justify="right" if right else "left", overflow="fold", no_wrap=not folds,
                         min_width=min(12, len(header(col))) if folds else None)
    best = c.best
    for row in c.rows:
        cells = []
        for col in columns:
            text = _escape(cell(row, col))
            if row is best and col == c.metric:
                text = f"[bold green]{text}[/bold green]"
            cells.append(text)
        table.add_row(*cells, style="dim" if row.status != "completed" else None)
    return table


def _is_numeric_column(col: str) -> bool:
    return col in ("n", "params", "epochs", "best_epoch", "seconds") or col.split(".", 1)[0] in SPLITS


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def render_markdown(c: Comparison) -> str:
    """A GitHub table that pastes into a README as is; the best value of the sort metric in bold."""
    columns = expanded_columns(c)
    best = c.best
    right = [_is_numeric_column(col) for col in columns]
    lines = [f"{c.note[0].upper()}{c.note[1:]}", "",
             "| " + " | ".join(_md(header(col)) for col in columns) + " |",
             "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    for row in c.rows:
        cells = []
        for col in columns:
            text = _md(cell(row, col))
            if row is best and col == c.metric and text != "-":
                text = f"**{text}**"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_json(c: Comparison) -> list[dict[str, Any]]:
    """One object per row: `run` (one run) or `variant` and `runs` (several seeds), `n`, `params`,
    and every flattened metric (`test.accuracy`, ...), a number, or {mean, sd, n} when n > 1."""
    out = []
    for row in c.rows:
        first = row.first
        obj: dict[str, Any] = {"name": row.name}
        if row.n == 1:
            obj["run"] = first.name
            obj["variant"] = first.variant
        else:
            obj["variant"] = first.variant
            obj["runs"] = [r.name for r in row.runs]
        obj.update(experiment=first.experiment, n=row.n, status=row.status,
                   **({"seeds": [r.seed for r in row.runs]} if row.n > 1 else {"seed": first.seed}),
                   model=row.value("model"), task=row.value("task"), params=row.value("params"),
                   epochs=row.value("epochs"), best_epoch=row.value("best_epoch"),
                   metrics_at=["best" if r.at_best else "last" for r in row.runs] if row.n > 1
                   else ("best" if first.at_best else "last"),
                   device=row.value("device"))
        obj["seconds"] = _stat_json(row.seconds, row.n)
        obj["differs"] = {k: row.value(k) for k in c.differs}
        for key in c.metrics:
            stat = row.metric(key)
            if stat is not None:
                obj[key] = _stat_json(stat, row.n)
        obj["problems"] = row.notes
        obj["paths"] = [str(r.path) for r in row.runs]
        out.append(obj)
    return out


def _stat_json(stat: Stat | None, n: int):
    if stat is None:
        return None
    if n == 1:
        return stat.mean
    return {"mean": stat.mean, "sd": stat.sd, "n": stat.n}


def render_json(c: Comparison) -> str:
    return json.dumps(to_json(c), indent=2) + "\n"


def render_csv(c: Comparison, columns: Sequence[str] | None = None) -> str:
    """Full-precision values for scripts: every metric (with `.sd` when some row averages seeds),
    or the columns asked for."""
    any_group = any(row.n > 1 for row in c.rows)
    if columns is None:
        base = ["run", "experiment", "variant", "n", "status", "seeds", "model", "task", "params", "epochs",
                "best_epoch", "seconds", "device"]
        columns = base + [k for k in c.differs] + list(c.metrics) + ["notes"]
    header_row, getters = [], []
    for col in columns:
        header_row.append(col)
        getters.append(col)
        if any_group and (col in c.metrics or col == "seconds"):
            header_row.append(f"{col}.sd")
            getters.append((col, "sd"))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header_row)
    for row in c.rows:
        writer.writerow([_csv_value(row, g, c) for g in getters])
    return buffer.getvalue()


def _csv_value(row: Row, getter, c: Comparison) -> Any:
    if isinstance(getter, tuple):
        stat = row.seconds if getter[0] == "seconds" else row.metric(getter[0])
        return "" if stat is None or stat.sd is None else repr(stat.sd)
    col = getter
    if col in c.metrics:
        stat = row.metric(col)
        return "" if stat is None else repr(stat.mean)
    if col == "seconds":
        stat = row.seconds
        return "" if stat is None else repr(stat.mean)
    if col == "run":
        return row.name
    if col in ("experiment", "variant"):
        return _plain(row.value(col))
    if col == "seeds":
        return ";".join("" if r.seed is None else str(r.seed) for r in row.runs)
    if col in ("n", "status", "notes"):
        return cell(row, col)
    return _plain(row.value(col))


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def render(c: Comparison, fmt: str) -> str:
    """markdown, csv or json as text (the table is a Rich object: see render_table)."""
    if fmt == "markdown":
        return render_markdown(c)
    if fmt == "csv":
        return render_csv(c, expanded_columns(c) if c.custom_columns else None)
    if fmt == "json":
        return render_json(c)
    raise ConfigError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")


def table_from_runs(paths: Iterable[str | Path], metric: str | None = None, title: str | None = None):
    """The Rich table of these run folders (what `nnx train` can print at the end): one row per
    variant (mean ± sd over seeds), failed runs with their reason under the table."""
    paths = [str(p) for p in paths if p is not None]
    if not paths:
        from rich.table import Table

        return Table(title=title or "no run folder was written", title_justify="left")
    c = compare(paths, metrics=[metric] if metric else ())
    return render_table(c, title=title)


# --------------------------------------------------------------------------------------------
# Curves


def plot_curves(c: Comparison, path: str | Path, metrics: Sequence[str] | None = None) -> Path:
    """Validation (solid) and train (dashed) curves against epochs from metrics.jsonl: one panel per
    metric, one colour per row (its seeds share it), a dot at the epoch the table reports."""
    from matplotlib.figure import Figure

    path = Path(path)
    leaves = list(dict.fromkeys(m.rsplit(".", 1)[-1] for m in (metrics or [c.metric])))
    fig = Figure(figsize=(6.0 * len(leaves), 4.2), layout="constrained")
    axes = fig.subplots(1, len(leaves), squeeze=False)[0]
    colors = [f"C{i}" for i in range(10)]
    for ax, leaf in zip(axes, leaves, strict=True):
        drawn = False
        for i, row in enumerate(c.rows):
            color = colors[i % len(colors)]
            label = row.name if row.n == 1 else f"{row.name} (n={row.n})"
            labelled = False  # one legend entry per row: its validation curve, or its train curve without one
            for run in row.runs:
                for split, style in (("validation", "-"), ("train", "--")):
                    xs, ys = _series(run.curves, split, leaf)
                    if not xs:
                        continue
                    ax.plot(xs, ys, style, color=color, linewidth=1.4 if split == "validation" else 1.0,
                            label=None if labelled else label)
                    labelled = drawn = True
                    if split == "validation" and run.metrics_epoch in xs:
                        k = xs.index(run.metrics_epoch)
                        ax.plot([xs[k]], [ys[k]], "o", color=color, markersize=4)
        ax.set_xlabel("epoch")
        ax.set_ylabel(leaf)
        if leaf in PERCENT:
            from matplotlib.ticker import PercentFormatter

            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_title(f"{leaf}: validation (solid), train (dashed)", fontsize="medium")
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize="small")
        else:
            ax.text(0.5, 0.5, f"no per-epoch {leaf} in metrics.jsonl", ha="center", va="center",
                    transform=ax.transAxes)
    try:
        fig.savefig(path, dpi=110)
    except (OSError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e).split("\n")[0]
        raise ConfigError(f"--plot {path}: cannot write it ({reason}); choose a .png path in a "
                          "folder that exists") from None
    return path


def _series(curves: list[dict], split: str, leaf: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for record in curves:
        metrics = record.get(split)
        value = metrics.get(leaf) if isinstance(metrics, dict) else None
        if value is None and leaf == "error" and isinstance(metrics, dict) and _is_number(metrics.get("accuracy")):
            value = 1.0 - metrics["accuracy"]
        if _is_number(value):
            xs.append(record["epoch"])
            ys.append(float(value))
    return xs, ys
