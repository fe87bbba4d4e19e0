"""The training ladder: loss_fn -> train_step -> train_batches (a compiled scan) -> fit.

The model is split once into a graph definition and plain state (parameters, other variables
such as batch statistics, optimizer state); everything inside `jax.jit` is a pure function of
that state, the device-resident data and an RNG key. An epoch is its order (a permutation of the
examples) and compiled training calls that gather the batches on the device, so Python never
touches a batch: one scan over the whole epoch, or, for convolutional networks, one call per step
(`steps_per_call`), between which the host can tell how far the epoch has got.
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
from .checkpoint import should_checkpoint
from .devices import Placement, placement
from .early_stopping import EarlyStopping
from .optim import hyperparameters, make_optimizer, penalty, weight_decay


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
    error: str | None = None  # this run failed: a seed that diverged among seeds trained together


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
    # hyper -> the optimizer with those numbers (`optim.hyperparameters`, traced values): runs that
    # differ only in them share one program. A step given no `hyper` uses `tx`, the config's own.
    tx_for: Callable | None = None

    def loss_fn(self, params, rest, x, y, w, key, hyper=None):
        # Fresh Variables for this trace: `rest` comes from the enclosing jit/scan trace, and batch
        # norm's statistics could not be updated inside jax.grad otherwise (flax TraceContextError).
        rest = jax.tree.map(lambda v: v, rest)
        model = nnx.merge(self.graphdef, params, rest)
        if self.augment is not None:
            key, augment_key = jax.random.split(key)
            x = self.augment(x, augment_key)
        outputs = model(x, train=True, rngs=nnx.Rngs(dropout=key))
        data_loss = jnp.sum(w * self.task.loss(outputs, y)) / jnp.maximum(jnp.sum(w), 1.0)
        loss = data_loss + penalty(params, self.regularization, hyper)
        _, _, new_rest = nnx.split(model, nnx.Param, ...)
        return loss, (self.task.sums(outputs, y, w), new_rest)

    def train_step(self, state, x, y, w, key, hyper=None):
        grads, (sums, rest) = jax.grad(self.loss_fn, has_aux=True)(state["params"], state["rest"], x, y, w, key,
                                                                    hyper)
        tx = self.tx if hyper is None else self.tx_for(hyper=hyper)
        updates, opt = tx.update(grads, state["opt"], state["params"])
        params = jax.tree.map(jnp.add, state["params"], updates)
        return {"params": params, "rest": rest, "opt": opt}, sums

    def epoch_keys(self, key, n: int):
        """An epoch's shuffle keys for n examples (see `shuffle`) and its dropout key."""
        order_key, dropout_key = jax.random.split(key)
        return shuffle.sort_keys(order_key, n), dropout_key

    def train_batches(self, state, x, y, index, weight, dropout_key, first_step, hyper=None, *, count: int):
        """Steps `first_step` to `first_step + count - 1` of an epoch (rows of the epoch's `index`,
        the examples of each batch, gathered on the device, and `weight`) in one scan; each step's
        sums, stacked. `count` 1 is one step outside any scan: a program of its own, whose
        convolutions XLA's CPU backend compiles as in an entry computation. `hyper`: this run's
        numeric hyperparameters (a vectorized sweep), None for the spec's own."""
        shard = self.placement.shard_batch

        def step(state, i):
            idx, w = index[i], weight[i]
            return self.train_step(state, shard(x[idx]), shard(y[idx]), shard(w), jax.random.fold_in(dropout_key, i),
                                   hyper)

        if count == 1:
            state, sums = step(state, first_step)
            return state, jax.tree.map(lambda s: s[None], sums)
        return jax.lax.scan(step, state, first_step + jnp.arange(count))

    def evaluate(self, params, rest, data_x, data_y, data_w):
        # The state enters every traced function as an argument (the scan carries it), never as
        # a closure over an outer trace: modules built on Flax transforms (nnx.RNN) require it.
        shard = self.placement.shard_batch

        def outputs_of(params, rest, x):
            return nnx.merge(self.graphdef, params, rest)(x, train=False)

        def body(carry, batch):
            total, params, rest = carry
            x, y, w = (shard(a) for a in batch)
            outputs = outputs_of(params, rest, x)
            total = jax.tree.map(jnp.add, total, self.task.sums(outputs, y, w))
            # A task with metrics that are not sums (AUC) gets every output back as well.
            return (total, params, rest), (outputs if self.task.exact is not None else None)

        zeros = jax.tree.map(jnp.zeros_like, jax.eval_shape(
            lambda p, r, x, y, w: self.task.sums(outputs_of(p, r, x), y, w),
            params, rest, data_x[0], data_y[0], data_w[0]))
        (total, _, _), outputs = jax.lax.scan(body, (zeros, params, rest), (data_x, data_y, data_w))
        return total, outputs


# (steps done, steps in the epoch): progress inside an epoch, reported between its calls.
StepsCallback = Callable[[int, int], None]


def steps_per_call(model: nnx.Module, steps: int) -> int:
    """How many training steps one compiled call runs where progress inside the epoch is shown: 1
    for a network with 2-D convolutions on the CPU (a step of tens of milliseconds, whose Python
    dispatch costs little), else the whole epoch in one scan (the MLP's steps take about a
    millisecond: a call per step would cost more than the step)."""
    from ..models.cnn import Conv2D

    on_cpu = jax.default_backend() == "cpu"  # elsewhere a call per step only adds launch latency
    return 1 if on_cpu and any(isinstance(m, Conv2D) for _, m in nnx.iter_graph(model)) else steps


def compile_epoch(core: Core, n: int, vectorized: bool = False, steps_per_call: int | None = None,
                  shared_data: bool = False, shared_key: bool = False) -> Callable:
    """One training epoch, `(state, x, y, key, hyper=None, on_steps=None) -> (state, sums)`, as
    compiled programs: the shuffle keys (`Core.epoch_keys`), their sort (`shuffle.order_by`), the
    batches (`epoch_batches`) and the training steps, `steps_per_call` a call (default: all, one
    scan; 1: a step outside any scan), called from Python in turn. Every split gives the same
    steps, keys and sums; `on_steps(done, total)` is told, after each call but the last, how many
    steps the device has finished (the host waits for the previous call while the next one is
    queued, so the device never idles for it).

    On CPU the sort is a host callback, and JAX's persistent compilation cache keeps no program
    that has one. Kept apart, the keys and the training steps are cached, and only the sort, a few
    milliseconds to compile, is not. `vectorized`: over a leading axis of runs (jax.vmap) in the
    state and `hyper`, and in the data (unless `shared_data`: one copy that every run reads) and the
    epoch's key (unless `shared_key`: runs of one seed see one data order and one dropout key).
    """
    steps = math.ceil(n / min(core.batch_size, n))
    per_call = min(steps_per_call or steps, steps)
    keys, order = functools.partial(core.epoch_keys, n=n), shuffle.order_by
    batches = functools.partial(epoch_batches, batch_size=core.batch_size)
    if vectorized:
        data, key_axis = (None if shared_data else 0), (None if shared_key else 0)
        if not shared_key:
            keys, order, batches = jax.vmap(keys), jax.vmap(order), jax.vmap(batches)
    keys, order, batches = jax.jit(keys), jax.jit(order), jax.jit(batches)

    @functools.cache
    def train(count: int):  # a call of `count` steps: at most two programs (the last call's may be shorter)
        fn = functools.partial(core.train_batches, count=count)
        if vectorized:
            fn = jax.vmap(fn, in_axes=(0, data, data, key_axis, key_axis, key_axis, None, 0))
        return jax.jit(fn, donate_argnums=0)

    along = 1 if vectorized else 0  # the steps' axis of the stacked sums

    def epoch(state, x, y, key, hyper=None, on_steps: StepsCallback | None = None):
        sort_keys, dropout_key = keys(key)
        index, weight = batches(order(sort_keys))
        sums, previous = [], None
        for first in range(0, steps, per_call):
            last = min(first + per_call, steps)
            state, chunk = train(last - first)(state, x, y, index, weight, dropout_key, np.int32(first), hyper)
            sums.append(chunk)
            if on_steps is not None and last < steps:
                if previous is not None:
                    jax.block_until_ready(sums[-2])
                    on_steps(previous, steps)
                previous = last
        if len(sums) > 1:
            sums = jax.tree.map(lambda *s: jnp.concatenate(s, axis=along), *sums)
        else:
            sums = sums[0]
        return state, jax.tree.map(lambda s: jnp.sum(s, axis=along), sums)

    return epoch


def make_core(model: nnx.Module, task, training, regularization, steps_per_epoch: int,
              augment: Callable | None = None, placement: Placement | None = None) -> tuple[Core, dict]:
    placement = placement or Placement()
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = make_optimizer(training, regularization, steps_per_epoch)
    core = Core(graphdef, task, tx, regularization, training.batch_size, augment, placement,
                functools.partial(make_optimizer, training, regularization, steps_per_epoch))
    return core, placement.replicate({"params": params, "rest": rest, "opt": tx.init(params)})


# --------------------------------------------------------------------------------------------
# fit: epochs, validation, early stopping, checkpoints, callbacks


EpochCallback = Callable[[EpochRecord], None]


@dataclass
class Trainee:
    """One run's share of a fit: its model, data, config, epoch callbacks and checkpoints."""

    model: nnx.Module
    data: Dataset
    spec: Any  # RunSpec
    callbacks: Sequence[EpochCallback] = ()
    checkpoints: Any = None  # TrainCheckpoints
    # (epoch, steps done, steps in the epoch), inside an epoch that runs as several calls.
    progress: Callable[[int, int, int], None] | None = None


def fit(model: nnx.Module, data: Dataset, spec, *, callbacks: Sequence[EpochCallback] = (),
        should_stop: Callable[[], bool] = lambda: False, checkpoints=None, resume: bool = False,
        augment: Callable | None = None, devices: int | str | None = None) -> FitResult:
    """Train `model` on `data` as `spec` (a RunSpec) says; return the trained model and its metrics.

    With `checkpoints` (a TrainCheckpoints), the state is saved as `should_checkpoint` says (by
    wall time, `training.checkpoint_every_s`, and when training ends), and `resume` continues from
    the last saved epoch exactly as if training had never stopped. `should_stop` is polled after
    each epoch (Ctrl-C, SIGTERM): training then saves, ends early, and the result is `interrupted`.
    `devices` (N or "all") trains data-parallel over that many devices.
    """
    return fit_all([Trainee(model, data, spec, callbacks, checkpoints)], should_stop=should_stop,
                   resume=resume, augment=augment, devices=devices)[0]


def fit_all(trainees: Sequence[Trainee], *, should_stop: Callable[[], bool] = lambda: False,
            resume: bool = False, augment: Callable | None = None,
            devices: int | str | None = None) -> list[FitResult]:
    """Train one or more runs of the same model and config that differ only in their seed and in
    numbers: the learning rate, the l2/l1 penalty weights, the weight decay (`optim.hyperparameters`)
    and the dropout rates (`layers.DropoutRate`, in the model's state).

    Several trainees train together in one compiled program over a leading axis (jax.vmap): each
    keeps its own initialization, data split, data order, dropout and augmentation keys,
    hyperparameters, early stopping and checkpoints, so each result equals its run trained alone
    up to float rounding. Trainees of one seed read one copy of the data and one data order. A
    trainee whose early stopping has stopped is carried along frozen (its state no longer changes
    what it reports) until all have stopped.
    """
    vectorized = len(trainees) > 1
    first = trainees[0]
    _check_trainable_together(trainees)
    training, task = first.spec.training, tasks_.task_for(first.data.info.task, first.spec.training.loss)
    n_train = len(first.data.x_train)
    if n_train == 0:
        raise RunError("the training split is empty; lower data.validation_split or use more data")
    if any(len(t.data.x_train) != n_train for t in trainees):
        raise RunError("parallel seeds need training splits of one size; set training.parallel_seeds: false")
    batch_size = min(training.batch_size, n_train)
    steps_per_epoch = math.ceil(n_train / batch_size)
    place = placement(devices, training.batch_size, n_train)
    augment = augment if augment is not None else make_augment(training.augmentation)
    training = training.model_copy(update={"batch_size": batch_size})
    structure = _penalty_structure(trainees)
    made = [make_core(t.model, task, training, structure, steps_per_epoch, augment, place) for t in trainees]
    core = made[0][0]
    state = _stack([s for _, s in made]) if vectorized else made[0][1]
    # Each trainee's own numbers, traced; a run alone keeps them as constants of its program.
    hyper = _stack([{k: jnp.float32(v) for k, v in hyperparameters(t.spec.training, t.spec.regularization).items()}
                    for t in trainees]) if vectorized else None
    stacked_data = vectorized and any(t.data is not first.data for t in trainees)
    shared_key = vectorized and not stacked_data and all(t.spec.seed == first.spec.seed for t in trainees)

    def on_device(arrays):
        return jnp.stack([jnp.asarray(a) for a in arrays]) if stacked_data else place.replicate(jnp.asarray(arrays[0]))

    x_train = on_device([t.data.x_train for t in trainees])
    y_train = on_device([t.data.y_train for t in trainees])

    def eval_split(split: str) -> Batched | None:
        sets = [batch_for_eval(getattr(t.data, f"x_{split}"), getattr(t.data, f"y_{split}"),
                               training.eval_batch_size, place.size, place) for t in trainees]
        if sets[0].n == 0:
            return None
        if not stacked_data:
            return sets[0]
        return Batched(*_stack([(b.x, b.y, b.w) for b in sets]), sets[0].n)

    has_val = len(first.data.x_val) > 0
    val = eval_split("val") if has_val else None
    told = [t.progress for t in trainees if t.progress is not None]
    # Split only where progress is shown (a terminal): one scan measured at least as fast on a busy
    # machine, and every split gives the same numbers.
    train_epoch = compile_epoch(core, n_train, vectorized=vectorized,
                                steps_per_call=steps_per_call(first.model, steps_per_epoch) if told else None,
                                shared_data=not stacked_data, shared_key=shared_key)
    data_axis = 0 if stacked_data else None
    evaluate = jax.jit(jax.vmap(core.evaluate, in_axes=(0, 0, data_axis, data_axis, data_axis)) if vectorized
                       else core.evaluate)
    data_index = (lambda i: i) if stacked_data else (lambda i: None)
    stoppers = [EarlyStopping.from_spec(training.early_stopping, has_validation=has_val) for _ in trainees]
    lr_at = [_learning_rate_fn(t.spec.training, steps_per_epoch) for t in trainees]
    pick = (lambda tree, i: jax.tree.map(lambda a: a[i], tree)) if vectorized else (lambda tree, i: tree)

    first_epoch, seconds_before = 1, 0.0
    stopped = [False] * len(trainees)
    if resume:
        state, first_epoch, seconds_before, stopped = _restore(trainees, state, stoppers, place, pick)
    frozen: list[Any] = [None] * len(trainees)  # a stopped trainee's state at its stopping epoch
    if vectorized:  # seeds that had stopped before a resume stay as they were
        frozen = [jax.tree.map(jnp.copy, pick(state, i)) if stopped[i] else None for i in range(len(trainees))]
    failed: list[str | None] = [None] * len(trainees)  # a seed that diverged, among seeds trained together

    baselines = [tasks_.zero_output_loss(task, t.data.y_train, t.data.info.outputs) for t in trainees]
    run_keys = [jax.random.key(t.spec.seed) for t in trainees]
    histories: list[list[EpochRecord]] = [[] for _ in trainees]
    last_epoch = [first_epoch - 1] * len(trainees)
    interrupted = False
    started = last_saved = time.perf_counter()
    try:
        for epoch in range(first_epoch, training.epochs + 1):
            if all(stopped):
                break
            t0 = time.perf_counter()
            # The epoch's key depends only on (seed, epoch): a resumed run sees the same data order.
            keys = [jax.random.fold_in(k, epoch) for k in run_keys]
            on_steps = (lambda done, total, epoch=epoch: [tell(epoch, done, total) for tell in told]) if told else None
            state, sums = train_epoch(state, x_train, y_train,
                                      jnp.stack(keys) if vectorized and not shared_key else keys[0], hyper, on_steps)
            val_out = evaluate(state["params"], state["rest"], val.x, val.y, val.w) if val else None
            jax.block_until_ready((sums, val_out))  # the epoch's time, not its dispatch's
            seconds = (time.perf_counter() - t0) / len(trainees)
            # Read once an epoch: every seed decides alike, and the epoch a stop ends is the one saved.
            stop_requested, since_saved, saved = should_stop(), time.perf_counter() - last_saved, False
            for i, trainee in enumerate(trainees):
                if stopped[i]:
                    continue
                train_metrics = tasks_.finalize(task, pick(sums, i))
                try:
                    check_divergence(train_metrics["loss"], epoch, trainee, vectorized and (
                        True if all(t.spec.variant == first.spec.variant for t in trainees)
                        else f"run {trainee.spec.run_name}"), baselines[i])
                except RunError as e:
                    if not vectorized:
                        raise
                    # Its own failure; the other seeds go on, as they would one after another.
                    failed[i], stopped[i], frozen[i] = str(e), True, jax.tree.map(jnp.copy, pick(state, i))
                    continue
                val_metrics = _metrics(task, pick(val_out, i), val, data_index(i)) if val else {}
                record = EpochRecord(epoch, train_metrics, val_metrics, seconds,
                                     learning_rate=lr_at[i](epoch * steps_per_epoch))
                histories[i].append(record)
                last_epoch[i] = epoch
                mine = pick(state, i)
                stopped[i] = stoppers[i] is not None and stoppers[i].update(record, mine)
                if stopped[i] and vectorized:
                    frozen[i] = jax.tree.map(jnp.copy, mine)
                for callback in trainee.callbacks:
                    callback(record)
                if trainee.checkpoints is not None and should_checkpoint(
                        epoch, training.epochs, since_saved, training.checkpoint_every_s,
                        stopping=stop_requested or stopped[i]):
                    trainee.checkpoints.save(epoch, mine, {
                        "seconds": seconds_before + time.perf_counter() - started, "stopped": stopped[i],
                        "early_stopping": stoppers[i].state_dict() if stoppers[i] is not None else None,
                    }, best=stoppers[i].best() if stoppers[i] is not None else None)
                    saved = True
            if saved:
                last_saved = time.perf_counter()
            if stop_requested and epoch < training.epochs and not all(stopped):
                interrupted = True
                break
    finally:  # also when a run fails: a checkpoint still being written is waited for
        for trainee in trainees:
            if trainee.checkpoints is not None:
                trainee.checkpoints.close()
    seconds = seconds_before + (time.perf_counter() - started) / len(trainees)
    if interrupted:
        return [FitResult(t.model, histories[i], {}, {}, None, False, seconds, epochs=last_epoch[i],
                          interrupted=failed[i] is None, error=failed[i]) for i, t in enumerate(trainees)]

    finals, best_epochs = [], []
    for i in range(len(trainees)):
        final, best = frozen[i] if frozen[i] is not None else pick(state, i), None
        stopper = stoppers[i]
        if stopper is not None and stopper.best_state is not None:
            best = stopper.best_epoch
            if training.early_stopping.restore_best:
                final = stopper.best_state
        finals.append(final)
        best_epochs.append(best)
    final_state = _stack(finals) if vectorized else finals[0]
    test = eval_split("test")
    test_out = evaluate(final_state["params"], final_state["rest"], test.x, test.y, test.w) if test else None
    val_out = evaluate(final_state["params"], final_state["rest"], val.x, val.y, val.w) if val else None
    results = []
    for i, trainee in enumerate(trainees):
        nnx.update(trainee.model, finals[i]["params"], finals[i]["rest"])
        index = data_index(i)
        results.append(FitResult(trainee.model, histories[i],
                                 _metrics(task, pick(test_out, i), test, index) if test else {},
                                 _metrics(task, pick(val_out, i), val, index) if val else {}, best_epochs[i],
                                 stopped[i] and failed[i] is None, seconds, epochs=last_epoch[i], error=failed[i]))
    return results


def check_divergence(loss: float, epoch: int, trainee: Trainee, name_seed: bool | str, baseline: float) -> None:
    """A training loss that is not finite, or that exceeds `training.divergence_factor` times the
    loss of outputs that are all zero (`baseline`: an untrained network's start, about), ends the
    run as failed, saying what to change. `name_seed`: say which of the runs trained together,
    by its seed (True), or as the text given ("run l2=1e-4,lr=0.1": a sweep's runs)."""
    factor = trainee.spec.training.divergence_factor
    which = name_seed if isinstance(name_seed, str) else f"seed {trainee.spec.seed}"
    seed = f" of {which}" if name_seed else ""
    hint = "lower training.optimizer.learning_rate or set training.optimizer.clip_norm"
    if not math.isfinite(loss):
        raise RunError(f"the training loss{seed} became {loss} at epoch {epoch}; {hint}")
    if factor is not None and baseline > 0 and loss > factor * baseline:
        raise RunError(f"the training diverged{seed} at epoch {epoch}: loss {loss:.4g}, more than "
                       f"training.divergence_factor {factor:g} times the {baseline:.4g} of all-zero "
                       f"outputs; {hint} (or set training.divergence_factor: null)")


def _metrics(task, out, batched: Batched, index: int | None) -> dict[str, float]:
    """A split's metrics from `Core.evaluate`'s (sums, outputs): outputs of real examples only."""
    sums, outputs = out
    if outputs is None:
        return tasks_.finalize(task, sums)
    y, w = (batched.y, batched.w) if index is None else (batched.y[index], batched.w[index])
    real = np.asarray(w).reshape(-1) > 0
    outputs = np.asarray(outputs).reshape(-1, *outputs.shape[2:])[real]
    return tasks_.finalize(task, sums, outputs, np.asarray(y).reshape(-1)[real])


def _stack(trees):
    return jax.tree.map(lambda *a: jnp.stack(a), *trees)


def _check_trainable_together(trainees: Sequence[Trainee]) -> None:
    """Runs share one compiled program only with one model structure (layers, shapes, and which
    dropout layers drop at all) and one optimizer-state layout (weight decay on or off)."""
    if len(trainees) < 2:
        return
    graphdef = nnx.graphdef(trainees[0].model)
    if any(nnx.graphdef(t.model) != graphdef for t in trainees[1:]):
        raise RunError("these runs differ in their model's structure, not only in numbers, and cannot train "
                       "together in one program; train them one by one")
    decays = {weight_decay(t.spec.training, t.spec.regularization) > 0 for t in trainees}
    if len(decays) > 1:
        raise RunError("runs trained together need weight decay in all or in none; train them one by one")


def _penalty_structure(trainees: Sequence[Trainee]):
    """The regularization whose terms the program has: a penalty any trainee uses (its weight per
    trainee comes in `hyper`; a zero weight adds exactly nothing)."""
    reg = trainees[0].spec.regularization
    if len(trainees) < 2:
        return reg
    return reg.model_copy(update={k: max(getattr(t.spec.regularization, k) for t in trainees) for k in ("l2", "l1")})


def _restore(trainees, state, stoppers, place, pick):
    """Every trainee's last checkpoint (all at one epoch), and its early stopping's best state."""
    saved_epochs = {t.checkpoints.latest_epoch() if t.checkpoints is not None else None for t in trainees}
    if saved_epochs == {None}:
        return state, 1, 0.0, [False] * len(trainees)
    if len(saved_epochs) > 1:
        raise RunError("the runs to resume together have checkpoints of different epochs; resume each alone")
    states, seconds, stopped = [], 0.0, []
    for i, trainee in enumerate(trainees):
        restored, saved = trainee.checkpoints.restore(pick(state, i))
        states.append(restored)
        seconds = max(seconds, saved["seconds"])
        stopped.append(saved["stopped"])
        if stoppers[i] is not None:
            stoppers[i].load(saved["early_stopping"])
            if stoppers[i].best_epoch is not None:
                best = trainee.checkpoints.restore(restored, "best", epoch=stoppers[i].best_epoch)
                if best is None:
                    raise RunError(f"the checkpoint of early stopping's best epoch ({stoppers[i].best_epoch}) "
                                   "is missing; train the run again")
                stoppers[i].best_state = place.replicate(best[0])
    state = _stack(states) if len(trainees) > 1 else place.replicate(states[0])
    return state, saved_epochs.pop() + 1, seconds, stopped


def _learning_rate_fn(training, steps_per_epoch: int):
    from .optim import schedule

    fn = schedule(training.optimizer, training.epochs, steps_per_epoch)
    return lambda step: float(fn(step))
