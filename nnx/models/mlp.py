"""Fully connected networks: the notes' 784-256-128-10 MLP and multinomial logistic regression."""

from __future__ import annotations

import math
from functools import partial
from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx
from pydantic import Field, PositiveInt

from ..data.base import DataInfo
from ..spec import Strict
from .base import ALL_TASKS, REGISTRY, HiddenLayers, Init, ModelFamily, Rate
from .layers import Dropout

ACTIVATIONS = {
    "relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "gelu": jax.nn.gelu,
    "elu": jax.nn.elu, "selu": jax.nn.selu, "swish": jax.nn.swish, "leaky_relu": jax.nn.leaky_relu,
    "linear": lambda x: x,
}


class MLP(nnx.Module):
    """x -> [dropout -> dense -> activation]* -> dropout -> dense (logits).

    Dropout follows section 7.4 of the notes: inverted dropout, survivors scaled by 1/(1-rate) in
    training and the identity at evaluation (`layers.Dropout`).
    """

    def __init__(self, in_features: int, hidden: list[int], outputs: int, *, activation: str = "relu",
                 dropout: list[float] | None = None, input_dropout: float = 0.0, linear_skip: bool = False,
                 rngs: nnx.Rngs):
        dropout = dropout or [0.0] * len(hidden)
        sizes = [in_features, *hidden]
        # Glorot-uniform kernels, as Keras' Dense (the book's networks), rather than Flax's LeCun-normal.
        dense = partial(nnx.Linear, kernel_init=nnx.initializers.glorot_uniform(), rngs=rngs)
        self.input_dropout = Dropout(input_dropout)
        self.hidden = nnx.List([dense(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
        self.dropout = nnx.List([Dropout(rate) for rate in dropout])
        self.out = dense(sizes[-1], outputs)
        # The skip starts at zero, so the network starts as the plain MLP and the linear part grows
        # only as far as the data asks (it sees the inputs before input dropout, as a linear model
        # would). No bias of its own: the output layer's is the model's intercept.
        self.skip = nnx.Linear(in_features, outputs, use_bias=False, kernel_init=nnx.initializers.zeros,
                               rngs=rngs) if linear_skip else None
        self.activation = activation

    def __call__(self, x, *, train: bool = False, rngs: nnx.Rngs | None = None):
        inputs = x = x.reshape(x.shape[0], -1)
        x = self.input_dropout(x, deterministic=not train, rngs=rngs)
        act = ACTIVATIONS[self.activation]
        for dense, drop in zip(self.hidden, self.dropout):
            x = drop(act(dense(x)), deterministic=not train, rngs=rngs)
        return self.out(x) if self.skip is None else self.out(x) + self.skip(inputs)


def build_mlp(spec, info: DataInfo, rngs: nnx.Rngs) -> MLP:
    return MLP(math.prod(info.input_shape), list(spec.hidden), info.outputs, activation=spec.activation,
               dropout=spec.dropout_rates, input_dropout=spec.input_dropout, linear_skip=spec.linear_skip,
               rngs=rngs)


def build_logistic(spec, info: DataInfo, rngs: nnx.Rngs) -> MLP:
    return MLP(math.prod(info.input_shape), [], info.outputs, rngs=rngs)


class MLPSpec(HiddenLayers):
    """A fully connected network: inputs flattened, hidden layers, then the output layer."""

    type: Literal["mlp"]
    hidden: list[PositiveInt] = [256, 128]
    input_dropout: Rate = 0.0
    linear_skip: bool = Field(False, description=(
        "add a linear map from the inputs straight to the outputs, beside the hidden layers (a "
        "wide-and-deep network; on lagged series, a linear AR model plus a non-linear correction)"))
    init: Init = "default"


class LogisticSpec(Strict):
    """Multinomial logistic regression: one linear layer, softmax output (no hidden layer)."""

    type: Literal["logistic"]


MLP_FAMILY = REGISTRY.register(ModelFamily(MLPSpec, build_mlp, ALL_TASKS))
LOGISTIC_FAMILY = REGISTRY.register(ModelFamily(LogisticSpec, build_logistic, frozenset({"classification", "binary"})))
