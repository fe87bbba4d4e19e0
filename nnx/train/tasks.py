"""Losses and metrics per task, as pure functions of model outputs and targets.

Each task gives a per-example loss (so that padded examples can be weighted out), per-batch
metric *sums* (cheap to add up inside a compiled epoch), and a host-side `finalize` that turns
the sums into the numbers written to metrics.jsonl.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import jax
import jax.numpy as jnp
import optax

from ..errors import ConfigError


@dataclass(frozen=True)
class Task:
    name: str
    loss: Callable  # (outputs, targets) -> per-example loss
    sums: Callable  # (outputs, targets, weights) -> dict of summed statistics
    finalize: Callable  # dict of sums (host floats) -> dict of metrics
    default_monitor: str  # the metric early stopping and compare sort by
    higher_is_better: tuple[str, ...]
    loss_name: str = "cross_entropy"  # what `training.loss` calls this task's loss


# -- classification: softmax and cross-entropy (equations 11-16 of the notes)

def _softmax_ce(logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def _classification_sums(logits, labels, weights):
    correct = (jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32)
    return {"loss": jnp.sum(weights * _softmax_ce(logits, labels)),
            "correct": jnp.sum(weights * correct), "count": jnp.sum(weights)}


def _accuracy_metrics(s):
    n = max(s["count"], 1.0)
    accuracy = s["correct"] / n
    return {"loss": s["loss"] / n, "accuracy": accuracy, "error": 1.0 - accuracy}


CLASSIFICATION = Task("classification", _softmax_ce, _classification_sums, _accuracy_metrics,
                      default_monitor="loss", higher_is_better=("accuracy",))


# -- binary classification: one logit, sigmoid cross-entropy

def _sigmoid_ce(logits, labels):
    return optax.sigmoid_binary_cross_entropy(logits[..., 0], labels.astype(logits.dtype))


def _binary_sums(logits, labels, weights):
    correct = ((logits[..., 0] > 0).astype(jnp.int32) == labels).astype(jnp.float32)
    return {"loss": jnp.sum(weights * _sigmoid_ce(logits, labels)),
            "correct": jnp.sum(weights * correct), "count": jnp.sum(weights)}


BINARY = Task("binary", _sigmoid_ce, _binary_sums, _accuracy_metrics,
              default_monitor="loss", higher_is_better=("accuracy",))


# -- regression: squared error (equation 9); MSE, MAE and R^2 from running sums

def _squared_error(outputs, targets):
    return jnp.square(outputs[..., 0] - targets)


def _absolute_error(outputs, targets):
    return jnp.abs(outputs[..., 0] - targets)


def _regression_sums(outputs, targets, weights):
    residual = outputs[..., 0] - targets
    return {"sse": jnp.sum(weights * residual**2), "sae": jnp.sum(weights * jnp.abs(residual)),
            "sy": jnp.sum(weights * targets), "syy": jnp.sum(weights * targets**2), "count": jnp.sum(weights)}


def _regression_metrics(s):
    n = max(s["count"], 1.0)
    total = s["syy"] - s["sy"] ** 2 / n  # sum of squares about the mean
    return {"loss": s["sse"] / n, "mse": s["sse"] / n, "mae": s["sae"] / n,
            "r2": 1.0 - s["sse"] / total if total > 0 else float("nan")}


def _regression_metrics_l1(s):
    # "loss" is the training objective: the mean absolute error when training on it.
    metrics = _regression_metrics(s)
    return {**metrics, "loss": metrics["mae"]}


REGRESSION = Task("regression", _squared_error, _regression_sums, _regression_metrics,
                  default_monitor="loss", higher_is_better=("r2",), loss_name="squared_error")

# Least absolute deviations: fits the conditional median, which is what minimizes test MAE and
# is less pulled by the few very large salaries of a skewed response such as Hitters'.
REGRESSION_L1 = replace(REGRESSION, loss=_absolute_error, finalize=_regression_metrics_l1,
                        loss_name="absolute_error")

TASKS = {t.name: t for t in (CLASSIFICATION, BINARY, REGRESSION)}


def task_for(name: str, loss: str | None = None) -> Task:
    """The task of a data set (`DataInfo.task`), trained on `loss` (None: the task's own loss)."""
    task = TASKS[name]
    if loss is None or loss == task.loss_name:
        return task
    if name == "regression" and loss == "absolute_error":
        return REGRESSION_L1
    fits = "squared_error or absolute_error" if name == "regression" else task.loss_name
    raise ConfigError(f"training.loss: {loss} does not fit this {name} data set; use {fits}, "
                      "or remove training.loss")


def higher_is_better(metric: str) -> bool:
    """Whether larger is better for a metric name such as 'validation.accuracy' or 'test.r2'."""
    leaf = metric.rsplit(".", 1)[-1]
    return any(leaf in t.higher_is_better for t in TASKS.values())


def finalize(task: Task, sums) -> dict[str, float]:
    return {k: float(v) for k, v in task.finalize({k: float(v) for k, v in jax.device_get(sums).items()}).items()}
