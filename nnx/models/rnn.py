"""Recurrent networks (sections 5.3-5.6 of the notes): one family for word ids and float series.

    inputs (N, T) int ids --Embed--> (N, T, E)      or float sequences (N, T, F)
      -> recurrent layer(s), each a Flax cell run by nnx.RNN (a compiled scan over time)
      -> final hidden state A_L -> dropout -> dense -> outputs           (equation 19)

The simple cell is equation 18, A_l = tanh(W'x_l + U'A_{l-1} + w_0) (Flax `nnx.SimpleCell`);
`lstm` and `gru` are `nnx.LSTMCell` (forget-gate bias initialized to 1, as in Keras) and
`nnx.GRUCell`. Text sequences are padded at the front,
so the final state has read the real words last.
"""

from __future__ import annotations

import math
from typing import Literal

import jax.numpy as jnp
from flax import nnx
from pydantic import Field, PositiveInt

from ..data.base import DataInfo
from ..errors import ConfigError
from ..spec import Strict
from .base import ALL_TASKS, REGISTRY, Init, ModelFamily, Rate

CELLS = {"simple": nnx.SimpleCell, "lstm": nnx.LSTMCell, "gru": nnx.GRUCell}


class RecurrentNet(nnx.Module):
    def __init__(self, in_features: int, outputs: int, *, cell: str = "simple", units: int = 32,
                 vocab_size: int | None = None, embedding: int | None = None, dropout: float = 0.0,
                 layers: int = 1, rngs: nnx.Rngs):
        self.embed = nnx.Embed(vocab_size, embedding, rngs=rngs) if embedding else None
        sizes = [embedding or in_features] + [units] * layers
        cells = [CELLS[cell](a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        if cell == "lstm":
            for c in cells:
                # Forget-gate bias 1 (Keras's unit_forget_bias, Jozefowicz et al. 2015): the cell
                # starts by remembering, which 500-step reviews need; Flax initializes it to 0.
                c.hf.bias[...] = jnp.ones_like(c.hf.bias[...])
        self.layers = nnx.List([nnx.RNN(c, rngs=False) for c in cells])
        self.dropout = nnx.Dropout(dropout)
        self.out = nnx.Linear(units, outputs, rngs=rngs)
        self.cell, self.units = cell, units

    def _zero_carry(self, batch: int):
        zeros = jnp.zeros((batch, self.units), jnp.float32)
        return (zeros, zeros) if self.cell == "lstm" else zeros

    def __call__(self, x, *, train: bool = False, rngs: nnx.Rngs | None = None):
        if self.embed is not None:
            h = self.embed(x)  # (N, T) ids -> (N, T, E)
        else:
            h = x.astype(jnp.float32)
            if h.ndim == 2:  # (N, T): one feature per step
                h = h[..., None]
        for layer in self.layers:
            h = layer(h, initial_carry=self._zero_carry(h.shape[0]))  # (N, T, units)
        final = h[:, -1, :]  # A_L: every cell's output at step l is its hidden state
        return self.out(self.dropout(final, deterministic=not train, rngs=rngs))


def build_rnn(spec, info: DataInfo, rngs: nnx.Rngs) -> RecurrentNet:
    if spec.embedding is not None:
        if info.vocab_size is None:
            raise ConfigError("model.embedding needs integer token inputs (a data set with a vocabulary, "
                              "such as imdb with representation: sequence); remove it for float sequences")
        in_features = spec.embedding
    else:
        if info.vocab_size is not None:
            raise ConfigError("the data are integer token ids: set model.embedding (e.g. 32) to embed them")
        if len(info.input_shape) not in (1, 2):
            raise ConfigError(f"model type rnn needs sequences (T,) or (T, F); the data have shape {info.input_shape}")
        in_features = math.prod(info.input_shape[1:]) if len(info.input_shape) == 2 else 1
    return RecurrentNet(in_features, info.outputs, cell=spec.cell, units=spec.units,
                        vocab_size=info.vocab_size, embedding=spec.embedding, dropout=spec.dropout,
                        layers=spec.layers, rngs=rngs)


class RNNSpec(Strict):
    """A recurrent network: [embedding] -> recurrent layer(s) -> dropout -> dense output.

    `embedding` set: inputs are integer token ids (N, T); unset: float sequences (N, T, F).
    The output reads the final hidden state A_L (equation 19 of the notes)."""

    type: Literal["rnn"]
    cell: Literal["simple", "lstm", "gru"] = "simple"
    units: PositiveInt = 32
    embedding: PositiveInt | None = None
    dropout: Rate = Field(0.0, description="on the final hidden state, before the output layer")
    layers: PositiveInt = 1
    init: Init = "default"


FAMILY = REGISTRY.register(ModelFamily(RNNSpec, build_rnn, ALL_TASKS))
