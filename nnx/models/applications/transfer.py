"""Transfer learning: an ImageNet architecture without its top (pretrained or not), frozen or
fine-tuned, under a new head.

    model: {type: resnet50, weights: imagenet, include_top: false, trainable: head,
            head: {dense: [256], dropout: 0.3}}

The network is `TransferNet`: the family's preprocessing of the data's [0, 1] pixels (scaled to
[0, 255] first, as Keras' preprocess_input expects), the base, global average pooling of its last
feature map, then the head (dense layers with dropout and the output layer: the MLP module).

A frozen base (`trainable: head`) follows Keras' convention for frozen layers: its batch norm runs
in inference mode (the moving statistics, never updated), and its weights are `FrozenParam`s, not
`nnx.Param`s, so neither the optimizer (nor its weight decay), the l1/l2 penalty, nor the count of
trainable parameters sees them. With a frozen base and no augmentation, the base's pooled features
are the same every epoch, so `Transfer.fit_together` computes them once per image (train,
validation and test, in inference mode, in batches) and trains the head alone on them with the
normal `nnx.train` fit; predict and evaluate still run the whole network, base and head.
`trainable: all` fine-tunes the base too, its learning rate scaled by
`base_learning_rate_factor` (each base weight carries the factor; nnx/train/optim.py applies it).
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

import jax
import numpy as np
from flax import nnx

from ...errors import ConfigError
from ..base import Network
from ..mlp import MLP
from . import FEATURE_CHANNELS
from .pretrained import preprocess_fn


class FrozenParam(nnx.Variable):
    """A frozen base's weight: kept and saved with the model, but not an `nnx.Param`, so not trained."""


def _replace_params(module, make) -> int:
    """Replace every `nnx.Param` of `module` by `make(value)`; returns how many were replaced."""
    replaced = 0
    for _, node in list(nnx.iter_graph(module)):
        if not isinstance(node, nnx.Module):
            continue
        for name, value in list(vars(node).items()):
            if isinstance(value, nnx.Param):
                setattr(node, name, make(value[...]))
                replaced += 1
    return replaced


def freeze(module) -> int:
    return _replace_params(module, FrozenParam)


def scale_learning_rate(module, factor: float) -> int:
    """Tag every parameter of `module` with a learning-rate factor (read by nnx/train/optim.py)."""
    return _replace_params(module, lambda value: nnx.Param(value, learning_rate_scale=factor))


def preprocess(arch: str, x):
    """The data's [0, 1] pixels as `arch`'s Keras weights expect them (caffe or tf); images that are
    not RGB (a random base on grayscale) are only scaled to [-1, 1]."""
    x = x * 255.0
    return preprocess_fn(arch)(x) if x.shape[-1] == 3 else x / 127.5 - 1.0


class TransferNet(nnx.Module):
    """preprocess -> base (no top) -> global average pooling -> head."""

    def __init__(self, base, head, arch: str, frozen: bool):
        self.base, self.head, self.arch, self.frozen = base, head, arch, frozen

    def features(self, x, train: bool = False):
        """The base's pooled last feature map: (n, channels)."""
        maps = self.base(preprocess(self.arch, x), train=train and not self.frozen)
        pooled = maps.mean(axis=(1, 2))
        return jax.lax.stop_gradient(pooled) if self.frozen else pooled

    def __call__(self, x, *, train: bool = False, rngs: nnx.Rngs | None = None):
        return self.head(self.features(x, train), train=train, rngs=rngs)


def build_transfer(build_base, spec, info, rngs: nnx.Rngs) -> TransferNet:
    """The family's network without its top (`build_base`), frozen or tagged, under `spec.head`."""
    base = build_base(spec.model_copy(update={"head": None, "include_top": False}), info, rngs)
    head = MLP(FEATURE_CHANNELS[spec.type], list(spec.head.dense), info.outputs, activation=spec.head.activation,
               dropout=spec.head.dropout_rates, input_dropout=spec.head.input_dropout, rngs=rngs)
    frozen = spec.trainable == "head"
    if frozen:
        freeze(base)
    elif spec.base_learning_rate_factor != 1.0:
        scale_learning_rate(base, spec.base_learning_rate_factor)
    return TransferNet(base, head, spec.type, frozen)


def check_transfer(spec, info) -> None:
    """What `nnx train` refuses of an application's transfer options (ConfigError, one line), the
    weight file found and checked against the network (DataError), and the one warning."""
    if spec.head is None:
        if not spec.include_top:
            raise ConfigError(f"model.type {spec.type}: include_top: false ends the network at its last feature "
                              "map, which cannot be trained on labels; add model.head (e.g. head: {dense: [256], "
                              "dropout: 0.3}) for a new classifier on it")
        if spec.weights is not None:
            raise ConfigError(f"model.weights with the ImageNet top: nnx train trains a pretrained network under "
                              "a new head (set include_top: false and model.head); to classify with the ImageNet "
                              f"top, use nnx predict --model {spec.type} --weights imagenet")
        return
    channels = tuple(info.input_shape)[-1] if len(info.input_shape) == 3 else 1
    if spec.weights is not None and channels != 3:
        raise ConfigError(f"model.weights: the {spec.type} weights take RGB images (3 channels), the data has "
                          f"{channels}; use data.color: rgb (image_folder) or RGB images")
    if spec.weights is not None:
        from .. import build
        from .pretrained import load_weights

        # Found (or downloaded), md5-checked and mapped onto the network now, before any run folder
        # exists (every shape checked, so on a real base); loaded again when the run trains.
        load_weights(build(spec, info).base, spec.type, spec.weights, include_top=False)
    elif spec.trainable == "head":
        print(f"nnx: warning: model.trainable: head without model.weights freezes a random {spec.type} base, so "
              "only the head learns (a random-features baseline); set model.weights (imagenet or a .h5 file) "
              "for transfer learning, or trainable: all to train the whole network", file=sys.stderr)


class Transfer(Network):
    """A `TransferNet` behind the one Model interface. predict/evaluate/save/restore are the
    network's (base and head together); fit loads the base's weights first and, with a frozen base
    and no augmentation, trains the head on features computed once."""

    weights_loaded = False
    featurized = 0            # images the base has been run on to make cached features (tests read it)
    feature_seconds = None    # the time that took

    def caches_features(self, run_spec) -> bool:
        return (self.spec.trainable == "head" and self.spec.cache_features
                and run_spec.training.augmentation is None)

    def load_base_weights(self) -> None:
        if self.spec.weights is not None and not self.weights_loaded:
            from .pretrained import load_weights

            load_weights(self.impl.base, self.spec.type, self.spec.weights, include_top=False)
            self.weights_loaded = True

    def features(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        """The frozen base's pooled features of `x`, in inference mode, in batches of one compiled shape."""
        channels = FEATURE_CHANNELS[self.spec.type]
        if len(x) == 0:
            return np.zeros((0, channels), np.float32)
        graphdef, state = nnx.split(self.impl)
        forward = jax.jit(lambda state, xb: nnx.merge(graphdef, state).features(xb, train=False))
        batch_size = max(1, min(batch_size, len(x)))
        out = []
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size]
            real = len(xb)
            if real < batch_size:  # pad the last batch: one compiled shape for all
                xb = np.concatenate([xb, np.zeros((batch_size - real, *xb.shape[1:]), xb.dtype)])
            out.append(np.asarray(forward(state, xb))[:real])
        self.featurized += len(x)
        return np.concatenate(out)

    def feature_dataset(self, data, batch_size: int):
        # One batch size for the three splits: one compiled forward pass
        batch_size = max(1, min(batch_size, max(len(data.x_train), len(data.x_val), len(data.x_test))))
        started = time.perf_counter()
        split = {f"x_{s}": self.features(getattr(data, f"x_{s}"), batch_size) for s in ("train", "val", "test")}
        self.feature_seconds = time.perf_counter() - started
        info = replace(data.info, input_shape=(FEATURE_CHANNELS[self.spec.type],))
        return replace(data, info=info, **split)

    @classmethod
    def fit_together(cls, models, datasets, run_specs, hooks, **shared):
        for m in models:
            m.load_base_weights()
        if not models[0].caches_features(run_specs[0]):
            return super().fit_together(models, datasets, run_specs, hooks, **shared)
        features = [m.feature_dataset(d, s.training.eval_batch_size) for m, d, s in zip(models, datasets, run_specs)]
        heads = [Network(m.impl.head, m.family, m.spec, f.info) for m, f in zip(models, features)]
        results = Network.fit_together(heads, features, run_specs, hooks, **shared)
        return [replace(r, model=m.impl) for r, m in zip(results, models)]

    def frozen_params(self) -> int:
        return int(sum(x.size for x in jax.tree.leaves(nnx.state(self.impl, FrozenParam))))

    def summary_extras(self) -> dict:
        transfer = {"weights": None if self.spec.weights is None else str(self.spec.weights),
                    "trainable": self.spec.trainable, "frozen_params": self.frozen_params()}
        if self.feature_seconds is not None:
            transfer.update(feature_cache=True, feature_seconds=round(self.feature_seconds, 3),
                            featurized_images=self.featurized)
        return {"transfer": transfer}
