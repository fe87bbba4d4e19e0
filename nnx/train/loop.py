"""The training ladder: loss_fn -> train_step -> train_epoch (one compiled scan) -> fit.

The model is split once into a graph definition and plain state (parameters, other variables
such as batch statistics, optimizer state); everything inside `jax.jit` is a pure function of
that state, the device-resident data and an RNG key. One epoch is one compiled call: batches are
gathered on the device from a permutation, so Python never touches a batch and the host reads
metrics back once per epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..data.base import Dataset
from ..errors import RunError
from . import tasks as tasks_
from .augment import make_augment
from .early_stopping import EarlyStopping
from .optim import make_optimizer, penalty


@dataclass
class EpochRecord:
    epoch: int
    train: dict[str, float]
    validation: dict[str, float]
    seconds: float
    learning_rate: float | None = None

    def as_json(self) -> dict[str, Any]:
        record = {"epoch": self.epoch, "train": self.train, "seconds": round(self.seconds, 4)}
        if self.validation:
            record["validation"] = self.validation
        if self.learning_rate is not None:
            record["learning_rate"] = self.learning_rate
        return record


@dataclass
class FitResult:
    model: nnx.Module
    history: list[EpochRecord]
    test: dict[str, float]
    validation: dict[str, float]
    best_epoch: int | None
    stopped_early: bool
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Device data


@dataclass
class Batched:
    """An evaluation split, padded to whole batches once so one compiled program serves all epochs."""

    x: jax.Array  # (batches, batch, ...)
    y: jax.Array
    w: jax.Array  # 1 for real examples, 0 for padding
    n: int


def batch_for_eval(x: np.ndarray, y: np.ndarray, batch_size: int) -> Batched:
    n = len(x)
    batch_size = max(1, min(batch_size, n))
    batches = math.ceil(n / batch_size)
    pad = batches * batch_size - n
    xp = np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)]) if pad else x
    yp = np.concatenate([y, np.zeros((pad, *y.shape[1:]), y.dtype)]) if pad else y
    w = np.concatenate([np.ones(n, np.float32), np.zeros(pad, np.float32)])
    shape = lambda a: a.reshape(batches, batch_size, *a.shape[1:])  # noqa: E731
    return Batched(jnp.asarray(shape(xp)), jnp.asarray(shape(yp)), jnp.asarray(shape(w)), n)


def epoch_batches(key, n: int, batch_size: int):
    """A shuffled epoch as (batches, batch) indices and weights; the last batch is padded, not dropped."""
    batches = math.ceil(n / batch_size)
    pad = batches * batch_size - n
    perm = jax.random.permutation(key, n)
    index = jnp.concatenate([perm, perm[:pad]]).reshape(batches, batch_size)
    weight = jnp.concatenate([jnp.ones(n), jnp.zeros(pad)]).reshape(batches, batch_size)
    return index, weight


# --------------------------------------------------------------------------------------------
# The compiled core


@dataclass(frozen=True)
class Core:
    """The pure functions of one model and config, ready for jax.jit."""

    graphdef: Any
    task: tasks_.Task
    tx: Any
    regularization: Any
    batch_size: int
    # (x, key) -> x: random augmentation of a training batch, on the device; None for none.
    augment: Callable | None = None

    def loss_fn(self, params, rest, x, y, w, key):
        model = nnx.merge(self.graphdef, params, rest, copy=True)  # fresh variables: batch norm mutates them under jax.grad
        if self.augment is not None:
            key, augment_key = jax.random.split(key)
            x = self.augment(x, augment_key)
        outputs = model(x, train=True, rngs=nnx.Rngs(dropout=key))
        data_loss = jnp.sum(w * self.task.loss(outputs, y)) / jnp.maximum(jnp.sum(w), 1.0)
        loss = data_loss + penalty(params, self.regularization)
        _, _, new_rest = nnx.split(model, nnx.Param, ...)
        return loss, (self.task.sums(outputs, y, w), new_rest)

    def train_step(self, state, x, y, w, key):
        grads, (sums, rest) = jax.grad(self.loss_fn, has_aux=True)(state["params"], state["rest"], x, y, w, key)
        updates, opt = self.tx.update(grads, state["opt"], state["params"])
        params = jax.tree.map(jnp.add, state["params"], updates)
        return {"params": params, "rest": rest, "opt": opt}, sums

    def train_epoch(self, state, x, y, key):
        order_key, dropout_key = jax.random.split(key)
        index, weight = epoch_batches(order_key, x.shape[0], self.batch_size)

        def body(state, batch):
            i, idx, w = batch
            return self.train_step(state, x[idx], y[idx], w, jax.random.fold_in(dropout_key, i))

        state, sums = jax.lax.scan(body, state, (jnp.arange(index.shape[0]), index, weight))
        return state, jax.tree.map(lambda s: jnp.sum(s, axis=0), sums)

    def evaluate(self, params, rest, data_x, data_y, data_w):
        model = nnx.merge(self.graphdef, params, rest)

        def body(total, batch):
            x, y, w = batch
            sums = self.task.sums(model(x, train=False), y, w)
            return jax.tree.map(jnp.add, total, sums), None

        zeros = jax.tree.map(jnp.zeros_like, jax.eval_shape(lambda: self.task.sums(
            model(data_x[0], train=False), data_y[0], data_w[0])))
        total, _ = jax.lax.scan(body, zeros, (data_x, data_y, data_w))
        return total


def make_core(model: nnx.Module, task, training, regularization, steps_per_epoch: int,
              augment: Callable | None = None) -> tuple[Core, dict]:
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = make_optimizer(training, regularization, steps_per_epoch)
    core = Core(graphdef, task, tx, regularization, training.batch_size, augment)
    return core, {"params": params, "rest": rest, "opt": tx.init(params)}


# --------------------------------------------------------------------------------------------
# fit: epochs, validation, early stopping, callbacks


EpochCallback = Callable[[EpochRecord], None]


def fit(model: nnx.Module, data: Dataset, spec, *, seed: int | None = None,
        callbacks: Sequence[EpochCallback] = (), should_stop: Callable[[], bool] = lambda: False) -> FitResult:
    """Train `model` on `data` as `spec` (a RunSpec) says; return the trained model and its metrics."""
    training, task = spec.training, tasks_.task_for(data.info.task)
    seed = spec.seed if seed is None else seed
    n_train = len(data.x_train)
    if n_train == 0:
        raise RunError("the training split is empty; lower data.validation_split or use more data")
    batch_size = min(training.batch_size, n_train)
    steps_per_epoch = math.ceil(n_train / batch_size)
    core, state = make_core(model, task, training.model_copy(update={"batch_size": batch_size}),
                            spec.regularization, steps_per_epoch, augment=make_augment(training.augmentation))

    x_train, y_train = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    val = batch_for_eval(data.x_val, data.y_val, training.eval_batch_size) if len(data.x_val) else None
    train_epoch = jax.jit(core.train_epoch, donate_argnums=0)
    evaluate = jax.jit(core.evaluate)
    stopper = EarlyStopping.from_spec(training.early_stopping, has_validation=val is not None)
    lr_at = _learning_rate_fn(training, steps_per_epoch)

    run_key = jax.random.key(seed)
    history: list[EpochRecord] = []
    started = time.perf_counter()
    stopped_early = False
    for epoch in range(1, training.epochs + 1):
        t0 = time.perf_counter()
        # The epoch's key depends only on (seed, epoch): the data order of a resumed run is the same.
        state, sums = train_epoch(state, x_train, y_train, jax.random.fold_in(run_key, epoch))
        train_metrics = tasks_.finalize(task, sums)
        if not math.isfinite(train_metrics["loss"]):
            raise RunError(f"the training loss became {train_metrics['loss']} at epoch {epoch}; "
                           "lower training.optimizer.learning_rate or add optimizer.clip_norm")
        val_metrics = tasks_.finalize(task, evaluate(state["params"], state["rest"], val.x, val.y, val.w)) if val else {}
        record = EpochRecord(epoch, train_metrics, val_metrics, time.perf_counter() - t0,
                             learning_rate=lr_at(epoch * steps_per_epoch))
        history.append(record)
        for callback in callbacks:
            callback(record)
        if stopper is not None and stopper.update(record, state):
            stopped_early = True
            break
        if should_stop():
            break
    seconds = time.perf_counter() - started

    best_epoch = None
    if stopper is not None and stopper.best_state is not None:
        best_epoch = stopper.best_epoch
        if training.early_stopping.restore_best:
            state = stopper.best_state
    nnx.update(model, state["params"], state["rest"])

    test = batch_for_eval(data.x_test, data.y_test, training.eval_batch_size)
    test_metrics = tasks_.finalize(task, evaluate(state["params"], state["rest"], test.x, test.y, test.w))
    final_val = tasks_.finalize(task, evaluate(state["params"], state["rest"], val.x, val.y, val.w)) if val else {}
    return FitResult(model, history, test_metrics, final_val, best_epoch, stopped_early, seconds)


def _learning_rate_fn(training, steps_per_epoch: int):
    from .optim import schedule

    fn = schedule(training.optimizer, training.epochs, steps_per_epoch)
    return lambda step: float(fn(step))
