"""Early stopping: watch a validation metric, keep the best state, stop after `patience` epochs."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ..errors import ConfigError
from ..record.metrics import improves, maximize


class EarlyStopping:
    def __init__(self, monitor: str, mode: str, patience: int, min_delta: float):
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.maximize = maximize(monitor, mode)
        self.best_value = -math.inf if self.maximize else math.inf
        self.best_epoch: int | None = None
        self.best_state = None
        self.wait = 0

    @classmethod
    def from_spec(cls, spec, has_validation: bool) -> EarlyStopping | None:
        if spec is None:
            return None
        split = spec.monitor.split(".", 1)[0]
        if split not in ("validation", "train"):
            raise ConfigError(f"training.early_stopping.monitor: '{spec.monitor}' must start with "
                              "'validation.' or 'train.' (e.g. validation.loss)")
        if split == "validation" and not has_validation:
            raise ConfigError(f"training.early_stopping.monitor is {spec.monitor} but data.validation_split "
                              "is 0; set a validation split or monitor a train metric")
        return cls(spec.monitor, spec.mode, spec.patience, spec.min_delta)

    def state_dict(self) -> dict:
        best = self.best_value if math.isfinite(self.best_value) else None
        return {"best_value": best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load(self, saved: dict | None) -> None:
        if saved and saved.get("best_value") is not None:
            self.best_value, self.best_epoch, self.wait = saved["best_value"], saved["best_epoch"], saved["wait"]

    def best(self) -> tuple[int, object] | None:
        """(best epoch, its state) so far, or None before the first epoch."""
        return None if self.best_epoch is None else (self.best_epoch, self.best_state)

    def value(self, record) -> float:
        split, _, metric = self.monitor.partition(".")
        metrics = record.validation if split == "validation" else record.train
        if metric not in metrics:
            raise ConfigError(f"training.early_stopping.monitor: no metric '{metric}' "
                              f"(available: {', '.join(sorted(metrics))})")
        return metrics[metric]

    def improved(self, value: float) -> bool:
        best = self.best_value if math.isfinite(self.best_value) else None
        return improves(value, best, self.maximize, self.min_delta)

    def update(self, record, state) -> bool:
        """Record one epoch; return True when training should stop."""
        value = self.value(record)
        if self.improved(value):
            self.best_value, self.best_epoch, self.wait = value, record.epoch, 0
            # A copy: the live state's buffers are donated to the next epoch.
            self.best_state = jax.tree.map(jnp.copy, state)
            return False
        self.wait += 1
        return self.wait >= self.patience
