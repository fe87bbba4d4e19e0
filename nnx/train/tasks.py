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
import numpy as np
import optax

from ..errors import ConfigError


@dataclass(frozen=True)
class Task:
    name: str
    loss: Callable  # (outputs, targets) -> per-example loss
    sums: Callable  # (outputs, targets, weights) -> dict of summed statistics
    finalize: Callable  # dict of sums (host floats) -> dict of metrics
    default_monitor: str  # the metric early stopping and compare sort by
    loss_name: str = "cross_entropy"  # what `training.loss` calls this task's loss
    # Metrics that are not sums over examples (AUC): (outputs, targets) on the host -> metrics,
    # computed on evaluation splits from all their outputs; None when the task has none.
    exact: Callable | None = None

    def metric_names(self, split: str = "test") -> tuple[str, ...]:
        """The metrics this task reports on a split ('train' has no exact metrics): the names a
        monitor or `--metric` may use, checked against nnx.record.metrics."""
        names = tuple(self.finalize(_ZERO_SUMS[self.name]))
        if self.exact is not None and split != "train":
            names += tuple(self.exact(np.zeros((2, 1), np.float32), np.array([0, 1])))
        return names


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
                      default_monitor="loss")


# -- binary classification: one logit, sigmoid cross-entropy

def _sigmoid_ce(logits, labels):
    return optax.sigmoid_binary_cross_entropy(logits[..., 0], labels.astype(logits.dtype))


def _binary_sums(logits, labels, weights):
    correct = ((logits[..., 0] > 0).astype(jnp.int32) == labels).astype(jnp.float32)
    return {"loss": jnp.sum(weights * _sigmoid_ce(logits, labels)),
            "correct": jnp.sum(weights * correct), "count": jnp.sum(weights)}


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """The area under the ROC curve: the chance that a random positive scores above a random
    negative (ties count half), from the ranks of the scores (Mann-Whitney U)."""
    from scipy.stats import rankdata

    labels = np.asarray(labels).ravel() == 1
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, np.float64).ravel())
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _binary_exact(logits, labels):
    return {"auc": roc_auc(np.asarray(logits)[..., 0], labels)}


BINARY = Task("binary", _sigmoid_ce, _binary_sums, _accuracy_metrics, default_monitor="loss",
              exact=_binary_exact)


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
                  default_monitor="loss", loss_name="squared_error")

# Least absolute deviations: fits the conditional median, which is what minimizes test MAE and
# is less pulled by the few very large salaries of a skewed response such as Hitters'.
REGRESSION_L1 = replace(REGRESSION, loss=_absolute_error, finalize=_regression_metrics_l1,
                        loss_name="absolute_error")

TASKS = {t.name: t for t in (CLASSIFICATION, BINARY, REGRESSION)}
_ZERO_SUMS = {"classification": {"loss": 0.0, "correct": 0.0, "count": 1.0},
              "binary": {"loss": 0.0, "correct": 0.0, "count": 1.0},
              "regression": {"sse": 0.0, "sae": 0.0, "sy": 0.0, "syy": 1.0, "count": 1.0}}


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


def zero_output_loss(task: Task, targets, outputs: int) -> float:
    """The loss of outputs that are all zero, about where a network starts: uniform class
    probabilities (log K), a probability of 1/2 (log 2), a prediction of 0 (the mean of y**2, or
    of |y|). The divergence rule measures a training loss against it; an unscaled regression
    target (say around 37) starts far from 0 and is not mistaken for a divergence."""
    y = np.asarray(targets, np.float64)
    if len(y) == 0:
        return float("nan")
    if task.name == "classification":
        return float(np.log(max(outputs, 2)))
    if task.name == "binary":
        return float(np.log(2.0))
    if task.loss_name == "absolute_error":
        return float(np.mean(np.abs(y)))
    return float(np.mean(np.square(y)))


def finalize(task: Task, sums, outputs=None, targets=None) -> dict[str, float]:
    """Metrics from summed statistics; with all of a split's `outputs` and `targets` (host arrays
    of its real examples), the task's exact metrics too."""
    metrics = {k: float(v) for k, v in task.finalize({k: float(v) for k, v in jax.device_get(sums).items()}).items()}
    if task.exact is not None and outputs is not None and len(outputs):
        metrics.update(task.exact(np.asarray(outputs), np.asarray(targets)))
    return metrics


def score(task: Task, outputs, targets) -> dict[str, float]:
    """A task's metrics of host outputs against targets, every example weighted 1 (estimators,
    ensembles, predictions)."""
    outputs, targets = np.asarray(outputs, np.float32), np.asarray(targets)
    return finalize(task, task.sums(outputs, targets, np.ones(len(targets), np.float32)), outputs, targets)
