"""The metric registry: every metric nnx reports, declared once with its direction and format.

Tasks (nnx.train.tasks) compute these names; early stopping, `nnx compare`, the reporter and the
ensemble read their direction and format from here, and the best epoch of a run is chosen by
`best_epoch` everywhere. No JAX: comparing runs stays instant.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    percent: bool = False        # shown as 1.51%, not 0.0151
    description: str = ""
    headline: bool = False       # shown in the progress line of each epoch

    def format(self, value: float) -> str:
        if self.percent:
            return f"{value:.2%}"
        return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}"


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("loss", False, description="the training objective (mean over examples; no penalty)", headline=True),
    Metric("accuracy", True, percent=True, description="fraction of examples classified correctly", headline=True),
    Metric("error", False, percent=True, description="1 - accuracy"),
    Metric("mse", False, description="mean squared error"),
    Metric("mae", False, description="mean absolute error", headline=True),
    Metric("r2", True, description="1 - SSE / SST on that split", headline=True),
    Metric("auc", True, description="area under the ROC curve (binary tasks; validation and test)", headline=True),
)}


def leaf(key: str) -> str:
    """'validation.accuracy' -> 'accuracy'."""
    return key.rsplit(".", 1)[-1]


def metric(key: str) -> Metric | None:
    return METRICS.get(leaf(key))


def higher_is_better(key: str) -> bool:
    """Whether larger is better for a metric name such as 'validation.accuracy' or 'test.r2'."""
    m = metric(key)
    return m is not None and m.higher_is_better


def maximize(monitor: str, mode: str = "auto") -> bool:
    return higher_is_better(monitor) if mode == "auto" else mode == "max"


def format_value(key: str, value: float) -> str:
    m = metric(key)
    return m.format(value) if m is not None else (f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}")


def improves(value: float, best: float | None, maximize_: bool, min_delta: float = 0.0) -> bool:
    """The one rule for "better": by more than `min_delta` in the metric's direction; NaN never is."""
    if value is None or not math.isfinite(value):
        return False
    if best is None:
        return True
    return value > best + min_delta if maximize_ else value < best - min_delta


def best_epoch(records: Iterable[dict], monitor: str, mode: str = "auto", min_delta: float = 0.0) -> dict | None:
    """The epoch record early stopping keeps: the first whose `monitor` improves on every earlier
    one by more than `min_delta` (the same rule as `EarlyStopping.update`)."""
    split, _, name = monitor.partition(".")
    up = maximize(monitor, mode)
    best, best_value = None, None
    for record in records:
        values = record.get(split) if isinstance(record, dict) else None
        value = values.get(name) if isinstance(values, dict) else None
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        if improves(float(value), best_value, up, min_delta):
            best, best_value = record, float(value)
    return best


def unknown_metric(key: str, available: Sequence[str]) -> str | None:
    """None when `key` (split.metric) is among `available`; else what is wrong, with a hint."""
    if key in available:
        return None
    import difflib

    close = difflib.get_close_matches(key, list(available), n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"no metric '{key}'{hint}; available: {', '.join(available)}"


def flatten(mapping: dict, prefix: str = "") -> dict:
    """{'model': {'dropout': [0.4]}} -> {'model.dropout': [0.4]}; lists and empty mappings stay values.
    The one flattening of configs and metrics (compare's columns, resume's differences, ensembles)."""
    flat: dict = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat
