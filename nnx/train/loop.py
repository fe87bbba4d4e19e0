"""The training ladder: loss_fn -> train_step -> train_batches (one compiled scan) -> fit.

The model is split once into a graph definition and plain state (parameters, other variables
such as batch statistics, optimizer state); everything inside `jax.jit` is a pure function of
that state, the device-resident data and an RNG key. An epoch is its order (a permutation of the
examples) and one compiled training scan that gathers the batches on the device, so Python never
touches a batch and the host reads metrics back once per epoch.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..data.base import Dataset
from ..errors import RunError
from . import shuffle
from . import tasks as tasks_
from .augment import make_augment
from .devices import Placement, placement
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
    epochs: int = 0  # the last epoch trained (counting epochs before a resume)
    interrupted: bool = False


# --------------------------------------------------------------------------------------------
# Device data


@dataclass
class Batched:
    """An evaluation split, padded to whole batches once so one compiled program serves all epochs."""

    x: jax.Array  # (batches, batch, ...)
    y: jax.Array
    w: jax.Array  # 1 for real examples, 0 for padding
    n: int


def batch_for_eval(x: np.ndarray, y: np.ndarray, batch_size: int, multiple: int = 1,
                   placement: Placement | None = None) -> Batched:
    """Pad to whole batches (of a multiple of the device count) and place on the device(s)."""
    n = len(x)
    batch_size = max(1, min(batch_size, n))
    batch_size = math.ceil(batch_size / multiple) * multiple
    batches = math.ceil(n / batch_size)
    pad = batches * batch_size - n
    xp = np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)]) if pad else x
    yp = np.concatenate([y, np.zeros((pad, *y.shape[1:]), y.dtype)]) if pad else y
    w = np.concatenate([np.ones(n, np.float32), np.zeros(pad, np.float32)])
    shape = lambda a: a.reshape(batches, batch_size, *a.shape[1:])  # noqa: E731
    put = (placement or Placement()).replicate
    return Batched(*put((jnp.asarray(shape(xp)), jnp.asarray(shape(yp)), jnp.asarray(shape(w)))), n)


def epoch_batches(order, batch_size: int):
    """An epoch's order as (batches, batch) indices and weights; the last batch is padded, not dropped."""
    n = order.shape[0]
    batch_size = min(batch_size, n)
    batches = math.ceil(n / batch_size)
    pad = batches * batch_size - n
    index = jnp.concatenate([order, order[:pad]]).reshape(batches, batch_size)
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
    placement: Placement = Placement()

    def loss_fn(self, params, rest, x, y, w, key):
        # Fresh Variables for this trace: `rest` comes from the enclosing jit/scan trace, and batch
        # norm's statistics could not be updated inside jax.grad otherwise (flax TraceContextError).
        rest = jax.tree.map(lambda v: v, rest)
        model = nnx.merge(self.graphdef, params, rest)
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

    def epoch_keys(self, key, n: int):
        """An epoch's shuffle keys for n examples (see `shuffle`) and its dropout key."""
        order_key, dropout_key = jax.random.split(key)
        return shuffle.sort_keys(order_key, n), dropout_key

    def train_batches(self, state, x, y, order, dropout_key):
        """One epoch over the examples in `order`, batches gathered on the device, in one scan."""
        index, weight = epoch_batches(order, self.batch_size)
        shard = self.placement.shard_batch

        def body(state, batch):
            i, idx, w = batch
            return self.train_step(state, shard(x[idx]), shard(y[idx]), shard(w), jax.random.fold_in(dropout_key, i))

        state, sums = jax.lax.scan(body, state, (jnp.arange(index.shape[0]), index, weight))
        return state, jax.tree.map(lambda s: jnp.sum(s, axis=0), sums)

    def evaluate(self, params, rest, data_x, data_y, data_w):
        # The state enters every traced function as an argument (the scan carries it), never as
        # a closure over an outer trace: modules built on Flax transforms (nnx.RNN) require it.
        def sums_of(params, rest, x, y, w):
            return self.task.sums(nnx.merge(self.graphdef, params, rest)(x, train=False), y, w)

        shard = self.placement.shard_batch

        def body(carry, batch):
            total, params, rest = carry
            x, y, w = (shard(a) for a in batch)
            return (jax.tree.map(jnp.add, total, sums_of(params, rest, x, y, w)), params, rest), None

        zeros = jax.tree.map(jnp.zeros_like, jax.eval_shape(sums_of, params, rest, data_x[0], data_y[0], data_w[0]))
        (total, _, _), _ = jax.lax.scan(body, (zeros, params, rest), (data_x, data_y, data_w))
        return total


def compile_epoch(core: Core, n: int, vectorized: bool = False) -> Callable:
    """One training epoch, `(state, x, y, key) -> (state, sums)`, as three compiled programs: the
    shuffle keys (`Core.epoch_keys`), their sort (`shuffle.order_by`), the training scan
    (`Core.train_batches`).

    On CPU the sort is a host callback, and JAX's persistent compilation cache keeps no program
    that has one. Kept apart, the keys and the scan are cached, and only the sort, a few
    milliseconds to compile, is not. `vectorized`: over a leading axis of seeds (jax.vmap) in
    every argument.
    """
    keys, order, train = functools.partial(core.epoch_keys, n=n), shuffle.order_by, core.train_batches
    if vectorized:
        keys, order, train = jax.vmap(keys), jax.vmap(order), jax.vmap(train)
    keys, order, train = jax.jit(keys), jax.jit(order), jax.jit(train, donate_argnums=0)

    def epoch(state, x, y, key):
        sort_keys, dropout_key = keys(key)
        return train(state, x, y, order(sort_keys), dropout_key)

    return epoch


def make_core(model: nnx.Module, task, training, regularization, steps_per_epoch: int,
              augment: Callable | None = None, placement: Placement | None = None) -> tuple[Core, dict]:
    placement = placement or Placement()
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = make_optimizer(training, regularization, steps_per_epoch)
    core = Core(graphdef, task, tx, regularization, training.batch_size, augment, placement)
    return core, placement.replicate({"params": params, "rest": rest, "opt": tx.init(params)})


# --------------------------------------------------------------------------------------------
# fit: epochs, validation, early stopping, checkpoints, callbacks


EpochCallback = Callable[[EpochRecord], None]


def fit(model: nnx.Module, data: Dataset, spec, *, callbacks: Sequence[EpochCallback] = (),
        should_stop: Callable[[], bool] = lambda: False, checkpoints=None, resume: bool = False,
        augment: Callable | None = None, devices: int | str | None = None) -> FitResult:
    """Train `model` on `data` as `spec` (a RunSpec) says; return the trained model and its metrics.

    With `checkpoints` (a TrainCheckpoints), the state is saved after every epoch, and `resume`
    continues from the last saved epoch exactly as if training had never stopped. `should_stop`
    is polled after each epoch (Ctrl-C): training then ends early and the result is `interrupted`.
    `devices` (N or "all") trains data-parallel over that many devices.
    """
    training, task = spec.training, tasks_.task_for(data.info.task, spec.training.loss)
    n_train = len(data.x_train)
    if n_train == 0:
        raise RunError("the training split is empty; lower data.validation_split or use more data")
    batch_size = min(training.batch_size, n_train)
    steps_per_epoch = math.ceil(n_train / batch_size)
    place = placement(devices, training.batch_size, n_train)
    core, state = make_core(model, task, training.model_copy(update={"batch_size": batch_size}),
                            spec.regularization, steps_per_epoch,
                            augment if augment is not None else make_augment(training.augmentation), place)

    x_train, y_train = place.replicate((jnp.asarray(data.x_train), jnp.asarray(data.y_train)))
    eval_batches = lambda x, y: batch_for_eval(x, y, training.eval_batch_size, place.size, place)  # noqa: E731
    val = eval_batches(data.x_val, data.y_val) if len(data.x_val) else None
    train_epoch = compile_epoch(core, n_train)
    evaluate = jax.jit(core.evaluate)
    stopper = EarlyStopping.from_spec(training.early_stopping, has_validation=val is not None)
    lr_at = _learning_rate_fn(training, steps_per_epoch)

    first_epoch, seconds_before, stopped_early = 1, 0.0, False
    if resume and checkpoints is not None and checkpoints.latest_epoch() is not None:
        state, saved = checkpoints.restore(state)
        state = place.replicate(state)
        first_epoch, seconds_before, stopped_early = saved["epoch"] + 1, saved["seconds"], saved["stopped"]
        if stopper is not None:
            stopper.load(saved["early_stopping"])
            if stopper.best_epoch is not None:
                stopper.best_state = place.replicate(checkpoints.restore(state, "best")[0])

    run_key = jax.random.key(spec.seed)
    history: list[EpochRecord] = []
    last_epoch, interrupted = first_epoch - 1, False
    started = time.perf_counter()
    for epoch in range(first_epoch, training.epochs + 1):
        if stopped_early:
            break
        t0 = time.perf_counter()
        # The epoch's key depends only on (seed, epoch): a resumed run sees the same data order.
        state, sums = train_epoch(state, x_train, y_train, jax.random.fold_in(run_key, epoch))
        train_metrics = tasks_.finalize(task, sums)
        if not math.isfinite(train_metrics["loss"]):
            raise RunError(f"the training loss became {train_metrics['loss']} at epoch {epoch}; lower "
                           "training.optimizer.learning_rate or set training.optimizer.clip_norm")
        val_metrics = tasks_.finalize(task, evaluate(state["params"], state["rest"], val.x, val.y, val.w)) if val else {}
        record = EpochRecord(epoch, train_metrics, val_metrics, time.perf_counter() - t0,
                             learning_rate=lr_at(epoch * steps_per_epoch))
        history.append(record)
        last_epoch = epoch
        stopped_early = stopper is not None and stopper.update(record, state)
        for callback in callbacks:
            callback(record)
        if checkpoints is not None:
            checkpoints.save(epoch, state, {
                "seconds": seconds_before + time.perf_counter() - started, "stopped": stopped_early,
                "early_stopping": stopper.state_dict() if stopper is not None else None,
            }, is_best=stopper is not None and stopper.best_epoch == epoch)
        if should_stop() and epoch < training.epochs and not stopped_early:
            interrupted = True
            break
    seconds = seconds_before + time.perf_counter() - started
    if checkpoints is not None:
        checkpoints.close()
    if interrupted:
        return FitResult(model, history, {}, {}, None, False, seconds, epochs=last_epoch, interrupted=True)

    best_epoch = None
    if stopper is not None and stopper.best_state is not None:
        best_epoch = stopper.best_epoch
        if training.early_stopping.restore_best:
            state = stopper.best_state
    nnx.update(model, state["params"], state["rest"])

    test = eval_batches(data.x_test, data.y_test)
    test_metrics = tasks_.finalize(task, evaluate(state["params"], state["rest"], test.x, test.y, test.w))
    final_val = tasks_.finalize(task, evaluate(state["params"], state["rest"], val.x, val.y, val.w)) if val else {}
    return FitResult(model, history, test_metrics, final_val, best_epoch, stopped_early, seconds, epochs=last_epoch)


def _learning_rate_fn(training, steps_per_epoch: int):
    from .optim import schedule

    fn = schedule(training.optimizer, training.epochs, steps_per_epoch)
    return lambda step: float(fn(step))


# --------------------------------------------------------------------------------------------
# Several seeds in one compiled program


def fit_seeds(models: Sequence[nnx.Module], datasets: Sequence[Dataset], specs: Sequence,
              callbacks: Sequence[Sequence[EpochCallback]] = (),
              should_stop: Callable[[], bool] = lambda: False) -> list[FitResult]:
    """Train the same model and config under several seeds at once, vectorized with jax.vmap.

    Each seed keeps its own initialization, data split, data order and dropout keys, so the
    results equal sequential runs up to float rounding; one compiled epoch serves all seeds.
    `should_stop` is polled after each epoch (Ctrl-C); the results are then `interrupted`.
    """
    spec, data = specs[0], datasets[0]
    training, task = spec.training, tasks_.task_for(data.info.task, spec.training.loss)
    n_train = len(data.x_train)
    batch_size = min(training.batch_size, n_train)
    steps_per_epoch = math.ceil(n_train / batch_size)
    training = training.model_copy(update={"batch_size": batch_size})
    made = [make_core(m, task, training, spec.regularization, steps_per_epoch) for m in models]
    core = made[0][0]
    stack = lambda *trees: jax.tree.map(lambda *a: jnp.stack(a), *trees)  # noqa: E731
    state = stack(*(state for _, state in made))
    x_train = jnp.stack([d.x_train for d in datasets])
    y_train = jnp.stack([d.y_train for d in datasets])

    def eval_sets(split: str):
        sets = [batch_for_eval(getattr(d, f"x_{split}"), getattr(d, f"y_{split}"), training.eval_batch_size)
                for d in datasets]
        return stack(*[(b.x, b.y, b.w) for b in sets])

    has_val = len(data.x_val) > 0
    val = eval_sets("val") if has_val else None
    train_epoch = compile_epoch(core, n_train, vectorized=True)
    evaluate = jax.jit(jax.vmap(core.evaluate))
    lr_at = _learning_rate_fn(training, steps_per_epoch)
    run_keys = [jax.random.key(s.seed) for s in specs]
    take = lambda tree, i: jax.tree.map(lambda a: a[i], tree)  # noqa: E731
    callbacks = list(callbacks) or [()] * len(models)

    histories: list[list[EpochRecord]] = [[] for _ in models]
    started = time.perf_counter()
    for epoch in range(1, training.epochs + 1):
        t0 = time.perf_counter()
        keys = jnp.stack([jax.random.fold_in(k, epoch) for k in run_keys])
        state, sums = train_epoch(state, x_train, y_train, keys)
        val_sums = evaluate(state["params"], state["rest"], *val) if has_val else None
        jax.block_until_ready((sums, val_sums))  # the epoch's time, not its dispatch's
        seconds = (time.perf_counter() - t0) / len(models)
        for i in range(len(models)):
            train_metrics = tasks_.finalize(task, take(sums, i))
            if not math.isfinite(train_metrics["loss"]):
                raise RunError(f"the training loss of seed {specs[i].seed} became {train_metrics['loss']} at "
                               f"epoch {epoch}; lower training.optimizer.learning_rate")
            record = EpochRecord(epoch, train_metrics, tasks_.finalize(task, take(val_sums, i)) if has_val else {},
                                 seconds, learning_rate=lr_at(epoch * steps_per_epoch))
            histories[i].append(record)
            for callback in callbacks[i]:
                callback(record)
        if should_stop() and epoch < training.epochs:
            seconds = (time.perf_counter() - started) / len(models)
            return [FitResult(model, histories[i], {}, {}, None, False, seconds, epochs=epoch, interrupted=True)
                    for i, model in enumerate(models)]
    seconds = (time.perf_counter() - started) / len(models)

    test = eval_sets("test")
    test_sums = evaluate(state["params"], state["rest"], *test)
    results = []
    for i, model in enumerate(models):
        params, rest = take(state["params"], i), take(state["rest"], i)
        nnx.update(model, params, rest)
        final_val = tasks_.finalize(task, take(val_sums, i)) if has_val else {}
        results.append(FitResult(model, histories[i], tasks_.finalize(task, take(test_sums, i)), final_val,
                                 None, False, seconds, epochs=training.epochs))
    return results
