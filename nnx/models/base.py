"""The model interface every family satisfies, the family declaration, and shared spec parts.

    ModelFamily   declared once in the family's module: its `model:` schema, its builder, the
                  tasks it supports, and whether it trains in epochs (network) or in closed form
    Model         what the runner, the ensemble, count-params and predict call: fit, predict,
                  evaluate, count, save, restore. `Network` wraps a Flax NNX module trained by
                  nnx.train; `ClosedForm` wraps an estimator with fit(dataset)/predict_scores(x).
                  No reader of models branches on the kind.

No JAX at import: the schema is built from these declarations.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from ..registry import Registry
from ..spec import Strict

TASKS = ("classification", "binary", "regression")
ALL_TASKS = frozenset(TASKS)


# Config sections that only a network reads: nnx.train's loop honours them; a closed-form estimator
# fits its own objective in one call (a variant of one that sets them is refused at load time).
NETWORK_SECTIONS = ("training", "regularization")


def reads(key: str, *, network: bool, model_fields: Container[str]) -> bool:
    """Whether a model reads the flattened config key `key` ('model.dropout', 'training.optimizer.name'):
    its own spec's fields, `data:`, and `training:`/`regularization:` when it is a network. Readers
    that have a run's config.yaml but must not import JAX (nnx compare) pass the fields of its
    `model:` section, which are its spec's; others ask the family (`ModelFamily.reads`)."""
    section, _, rest = key.partition(".")
    if section == "model":
        return not rest or rest.split(".", 1)[0] in model_fields
    if section in NETWORK_SECTIONS:
        return network
    return True


@dataclass(frozen=True)
class ModelFamily:
    spec: type[Strict]                 # a pydantic spec with a Literal `type`
    build: Callable[..., Any]          # (spec, DataInfo, nnx.Rngs) -> Flax module; (spec, DataInfo) for closed form
    tasks: frozenset[str] = ALL_TASKS  # the data sets' tasks it can learn
    network: bool = True               # trained in epochs by nnx.train (honours training:, regularization:)
    features_only: bool = False        # reads numeric features only: refused on word ids (a data set with a vocabulary)
    description: str = ""

    def check(self, spec, info, training=None, examples: int | None = None, devices=None) -> None:
        """Raise ConfigError when this model cannot be built for `info`, or cannot train as asked
        (`--devices`, the batch size over the training split), without allocating anything."""
        from . import build

        if not self.network:  # an estimator is cheap to construct, and takes no devices
            build(spec, info)
            return
        from ..params import abstract_model
        from ..train.devices import one_device, placement

        if training is not None and examples is not None and not one_device(devices):
            placement(devices, training.batch_size, examples)
        abstract_model(spec, info)

    def reads(self, key: str) -> bool:
        """Whether this family's models read the config key `key` (see `reads`)."""
        return reads(key, network=self.network, model_fields=self.spec.model_fields)

    def make(self, spec, info, seed: int = 0) -> Model:
        """The model a spec describes, behind the one interface."""
        from . import build

        if self.network:
            from flax import nnx

            return Network(build(spec, info, nnx.Rngs(seed)), self, spec, info)
        return ClosedForm(build(spec, info), self, spec, info)


REGISTRY = Registry("nnx.models", tag="type", what="model type")


# --------------------------------------------------------------------------------------------
# The interface


class Model:
    """One trained (or to-be-trained) model of any family."""

    def __init__(self, impl, family: ModelFamily, spec, info):
        self.impl, self.family, self.spec, self.info = impl, family, spec, info

    @property
    def trains_in_epochs(self) -> bool:
        return self.family.network

    def fit(self, dataset, run_spec, **hooks):
        """Train on `dataset` as `run_spec` says; returns nnx.train.loop.FitResult."""
        raise NotImplementedError

    @classmethod
    def fit_together(cls, models: list[Model], datasets, run_specs, hooks: list[dict], **shared) -> list:
        """Several seeds of one config. By default one after another; networks vectorize."""
        return [m.fit(d, s, **h, **shared) for m, d, s, h in zip(models, datasets, run_specs, hooks)]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Outputs as the task's loss reads them: logits, a binary logit, or a regression value."""
        raise NotImplementedError

    def evaluate(self, x: np.ndarray, y: np.ndarray, task) -> dict[str, float]:
        from ..train import tasks

        return tasks.score(task, self.predict(x), y) if len(x) else {}

    def num_params(self) -> int:
        """Trainable parameters (a closed-form model knows its own once fitted)."""
        raise NotImplementedError

    def summary_extras(self) -> dict:
        """The model's own figures for summary.json (a perceptron's updates, a lasso's alpha)."""
        extras = getattr(self.impl, "summary_extras", None)
        return extras() if extras else {}

    def save(self, directory: Path) -> None:
        """Keep what `restore` needs in the run folder."""

    def restore(self, directory: Path) -> Model:
        raise NotImplementedError(f"a {self.spec.type} model has no saved form to restore")


class Network(Model):
    """A Flax NNX module trained by nnx.train's compiled loop."""

    def fit(self, dataset, run_spec, *, callbacks=(), checkpoint_dir=None, **shared):
        hooks = {"callbacks": callbacks, "checkpoint_dir": checkpoint_dir}
        return self.fit_together([self], [dataset], [run_spec], [hooks], **shared)[0]

    @classmethod
    def fit_together(cls, models, datasets, run_specs, hooks, *, should_stop=lambda: False, resume=False,
                     devices=None):
        import jax

        from ..train.checkpoint import TrainCheckpoints
        from ..train.loop import Trainee, fit_all

        def checkpoints(h):
            # Per-epoch checkpoints (and so --resume) are single-host: across hosts, each process
            # would need the others' Orbax barriers on a shared disk, which a run folder is not.
            folder = h.get("checkpoint_dir")
            return TrainCheckpoints(folder) if folder is not None and jax.process_count() == 1 else None

        trainees = [Trainee(m.impl, d, s, h.get("callbacks", ()), checkpoints(h), h.get("progress"))
                    for m, d, s, h in zip(models, datasets, run_specs, hooks)]
        return fit_all(trainees, should_stop=should_stop, resume=resume, devices=devices)

    def predict(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Evaluation-mode outputs in batches of one compiled shape (the last padded)."""
        import jax
        from flax import nnx

        from ..train.loop import batch_for_eval

        if len(x) == 0:
            return np.zeros((0, self.info.outputs), np.float32)
        graphdef, state = nnx.split(self.impl)
        forward = jax.jit(lambda state, xb: nnx.merge(graphdef, state)(xb, train=False))
        batches = batch_for_eval(x, np.zeros(len(x), np.float32), batch_size)
        return np.concatenate([np.asarray(forward(state, xb)) for xb in batches.x])[: len(x)]

    def num_params(self) -> int:
        import jax
        from flax import nnx

        return int(sum(x.size for x in jax.tree.leaves(nnx.state(self.impl, nnx.Param))))

    def save(self, directory: Path) -> None:
        from ..train.checkpoint import save_model

        save_model(directory, self.impl)

    def restore(self, directory: Path) -> Model:
        from ..train.checkpoint import restore_into

        restore_into(directory, self.impl)
        return self


class ClosedForm(Model):
    """An estimator fitted in one call (scikit-learn, the perceptron's own rule): no epochs."""

    fitted = False

    def fit(self, dataset, run_spec, **hooks):
        from ..train import tasks
        from ..train.loop import FitResult

        task = tasks.task_for(dataset.info.task)  # closed-form models fit their own loss
        started = time.perf_counter()
        self.impl.fit(dataset)
        seconds = time.perf_counter() - started
        self.fitted = True
        return FitResult(self, [], self.evaluate(dataset.x_test, dataset.y_test, task),
                         self.evaluate(dataset.x_val, dataset.y_val, task), None, False, seconds, epochs=0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.impl.predict_scores(x), np.float32)

    def num_params(self) -> int:
        return int(self.impl.num_params()) if self.fitted else 0  # known once fitted


# --------------------------------------------------------------------------------------------
# Spec parts several families share

Activation = Literal["relu", "sigmoid", "tanh", "gelu", "elu", "selu", "swish", "leaky_relu", "linear"]
Rate = Annotated[float, Field(ge=0, lt=1)]
Init = Annotated[Literal["default", "pytorch"], Field(
    description="default: the family's own (Glorot-uniform dense layers, Flax's cells); "
                "pytorch: PyTorch's defaults, to reproduce a PyTorch lab (nnx/models/init.py)")]


def per_layer_rates(dropout: float | list[float], layers: int, kind: str) -> list[float]:
    """One dropout rate per layer: a list must have one per layer; a number applies to all."""
    if not isinstance(dropout, list):
        return [dropout] * layers
    if len(dropout) != layers:
        raise ValueError(f"dropout has {len(dropout)} rates for {layers} {kind} layers; "
                         f"give one rate per {kind} layer, or a single number")
    return list(dropout)


class HiddenLayers(Strict):
    """Dense hidden layers with an activation and a dropout rate per layer (shared by the MLPs)."""

    hidden: list[PositiveInt]
    activation: Activation = "relu"
    dropout: Rate | list[Rate] = Field(0.0, description="per hidden layer; one number applies to all")

    @model_validator(mode="after")
    def _dropout_per_layer(self):
        per_layer_rates(self.dropout, len(self.hidden), "hidden")
        return self

    @property
    def dropout_rates(self) -> list[float]:
        return per_layer_rates(self.dropout, len(self.hidden), "hidden")
