"""One-dimensional convolutional networks over sequences (section 5.7 of the notes).

    inputs (N, T) int ids --Embed--> (N, T, E) -> dropout      or float sequences (N, T, F)
      -> [1-D convolution along T -> activation -> dropout] per entry of `filters`
      -> global max pooling over T -> (N, filters[-1])
      -> [dense -> activation -> dropout] per entry of `dense` -> dense -> outputs

A filter is a learned detector of a short phrase (`kernel_size` consecutive words); the max pool
keeps, for each filter, how strongly the phrase occurs *anywhere* in the review, which is what a
sentiment cue is. Unlike a recurrent network this is a few large matrix products, so an epoch
is quick, and the order of words matters only within a window.

Padding. Text is padded at the front with id 0 (nnx.data.text.PAD). Unmasked, a window of padding
has the same value in every short review (the filter's response to the PAD embedding), so it
could win the max pool and stand for "this review is short" instead of for a phrase. Here every
convolution is causal (the window at step t reads steps t-k+1..t, with zeros before the start,
so the output keeps length T), the activations at padded steps are set to zero before each next
layer, and padded steps are excluded from the max pool. The output then depends only on the
words, not on how much padding precedes them (tested); a review with no word at all pools to 0.
Float sequences have no padding: every step counts.

Defaults follow Keras' IMDB CNN example (embedding 50, dropout 0.2, Conv1D(250, 3, relu),
GlobalMaxPooling1D, Dense 250, dropout 0.2, one sigmoid output; about 89% test accuracy after 2
epochs of Adam with batch 32), with Keras' initializations: Glorot-uniform kernels, embeddings
from U(-0.05, 0.05).
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx
from pydantic import Field, PositiveInt, model_validator

from ..data import text
from ..data.base import DataInfo
from ..errors import ConfigError
from ..spec import Strict
from .base import ALL_TASKS, REGISTRY, Activation, ModelFamily, Rate
from .layers import Dropout
from .mlp import ACTIVATIONS

_GLOROT = nnx.initializers.glorot_uniform()


def _keras_embedding_init(key, shape, dtype=jnp.float32):
    """Keras' Embedding default, U(-0.05, 0.05) (Flax's is a normal with std 1/sqrt(vocab))."""
    return jax.random.uniform(key, shape, dtype, -0.05, 0.05)


def conv_general_dilated(lhs, rhs, window_strides, padding, **options):
    """nnx.Conv's convolution, computed on the CPU as one matrix product over the shifted copies
    of the input (im2col), elsewhere by `lax.conv_general_dilated`.

    Why: XLA's CPU convolution is about 40x slower inside the compiled epoch (a `lax.scan`) than
    outside it (measured here for the default network on 32 x 500 x 50 inputs: 2.9 s a training
    step against 68 ms as products), while matrix products are not; nnx.models.cnn does the same
    for 2-D. Only the case this family uses takes the product path: stride 1, no dilation, one
    group, padding already applied (nnx.Conv pads CAUSAL inputs itself and passes VALID).
    """
    simple = (padding == "VALID" and tuple(window_strides) == (1,) and lhs.ndim == 3
              and options.get("feature_group_count", 1) == 1
              and all(d in (None, 1, (1,)) for d in (options.get("lhs_dilation"), options.get("rhs_dilation"))))
    if jax.default_backend() != "cpu" or not simple:
        return jax.lax.conv_general_dilated(lhs, rhs, window_strides, padding, **options)
    k, channels, out = rhs.shape
    steps = lhs.shape[1] - k + 1
    columns = jnp.concatenate([lhs[:, i:i + steps, :] for i in range(k)], axis=-1)  # (N, T', k*C)
    return columns @ rhs.reshape(k * channels, out)


def causal_conv(in_features: int, out_features: int, kernel_size: int, *, rngs: nnx.Rngs) -> nnx.Conv:
    """A 1-D convolution whose output at step t reads steps t-k+1..t (zeros before the start)."""
    return nnx.Conv(in_features, out_features, (kernel_size,), padding="CAUSAL", kernel_init=_GLOROT,
                    conv_general_dilated=conv_general_dilated, rngs=rngs)


def masked_max_pool(h: jax.Array, mask: jax.Array | None) -> jax.Array:
    """Max over the steps (axis 1) where `mask` is true; 0 for a sequence with none."""
    if mask is None:
        return jnp.max(h, axis=1)
    pooled = jnp.max(jnp.where(mask[..., None], h, -jnp.inf), axis=1)
    return jnp.where(jnp.any(mask, axis=1)[:, None], pooled, 0.0)


class Conv1DNet(nnx.Module):
    def __init__(self, in_features: int, outputs: int, *, filters: list[int], kernel_sizes: list[int],
                 conv_dropout: list[float], dense: list[int], dropout: list[float], activation: str = "relu",
                 vocab_size: int | None = None, embedding: int | None = None, embedding_dropout: float = 0.0,
                 rngs: nnx.Rngs):
        self.embed = (nnx.Embed(vocab_size, embedding, embedding_init=_keras_embedding_init, rngs=rngs)
                      if embedding else None)
        self.embedding_dropout = Dropout(embedding_dropout)
        channels = [embedding or in_features, *filters]
        self.convs = nnx.List([causal_conv(a, b, k, rngs=rngs)
                               for a, b, k in zip(channels[:-1], channels[1:], kernel_sizes, strict=True)])
        self.conv_dropout = nnx.List([Dropout(rate) for rate in conv_dropout])
        sizes = [filters[-1], *dense]
        self.dense = nnx.List([nnx.Linear(a, b, kernel_init=_GLOROT, rngs=rngs)
                               for a, b in zip(sizes[:-1], sizes[1:], strict=True)])
        self.dropout = nnx.List([Dropout(rate) for rate in dropout])
        self.out = nnx.Linear(sizes[-1], outputs, kernel_init=_GLOROT, rngs=rngs)
        self.activation = activation

    def steps(self, x):
        """Inputs as (N, T, C) floats, and which steps are words (None: all steps count)."""
        if self.embed is not None:
            return self.embed(x), x != text.PAD  # (N, T) ids -> (N, T, E)
        h = x.astype(jnp.float32)
        return (h[..., None] if h.ndim == 2 else h), None  # (N, T): one feature per step

    def __call__(self, x, *, train: bool = False, rngs: nnx.Rngs | None = None):
        act = ACTIVATIONS[self.activation]
        h, mask = self.steps(x)
        h = self.embedding_dropout(h, deterministic=not train, rngs=rngs)
        for conv, drop in zip(self.convs, self.conv_dropout, strict=True):
            if mask is not None:  # padded steps read as zeros, wherever a window reaches them
                h = jnp.where(mask[..., None], h, 0.0)
            h = drop(act(conv(h)), deterministic=not train, rngs=rngs)
        h = masked_max_pool(h, mask)  # (N, filters[-1])
        for dense, drop in zip(self.dense, self.dropout, strict=True):
            h = drop(act(dense(h)), deterministic=not train, rngs=rngs)
        return self.out(h)


def build_conv1d(spec, info: DataInfo, rngs: nnx.Rngs) -> Conv1DNet:
    if spec.embedding is not None:
        if info.vocab_size is None:
            raise ConfigError("model.embedding needs integer token inputs (a data set with a vocabulary, "
                              "such as imdb with representation: sequence); set embedding: null for float "
                              "sequences")
        if len(info.input_shape) != 1:
            raise ConfigError(f"model type conv1d embeds sequences of word ids (T,); the data have shape "
                              f"{info.input_shape}")
        in_features = spec.embedding
    else:
        if info.vocab_size is not None:
            raise ConfigError("the data are integer token ids: set model.embedding (e.g. 50) to embed them")
        if len(info.input_shape) not in (1, 2):
            raise ConfigError(f"model type conv1d needs sequences (T,) or (T, F); the data have shape "
                              f"{info.input_shape}")
        in_features = math.prod(info.input_shape[1:]) if len(info.input_shape) == 2 else 1
    return Conv1DNet(in_features, info.outputs, filters=list(spec.filters), kernel_sizes=spec.kernel_sizes,
                     conv_dropout=spec.conv_dropout_rates, dense=list(spec.dense), dropout=spec.dropout_rates,
                     activation=spec.activation, vocab_size=info.vocab_size, embedding=spec.embedding,
                     embedding_dropout=spec.embedding_dropout, rngs=rngs)


class Conv1DSpec(Strict):
    """A 1-D convolutional network: [embedding] -> convolutions along the sequence -> global max
    pooling -> dense layers -> output (section 5.7 of the notes).

    `embedding` set: inputs are integer token ids (N, T); null: float sequences (N, T, F), e.g. a
    time series. The defaults are Keras' IMDB CNN example (embedding 50, dropout 0.2, 250 filters
    of width 3 with ReLU, global max pooling, dense 250 with dropout 0.2), which reaches about 89%
    on IMDB in 2 epochs. Padded steps (id 0) are masked out of the convolutions and the pool."""

    type: Literal["conv1d"]
    embedding: PositiveInt | None = Field(50, description="embedding size for word ids (Keras' example: 50); "
                                                          "null for float sequences (N, T, F)")
    embedding_dropout: Rate = Field(0.2, description="on the embedded words (Keras' example: 0.2)")
    filters: list[PositiveInt] = Field([250], min_length=1, description=(
        "filters of each convolution, one convolution per entry (Keras' example: [250])"))
    kernel_size: PositiveInt | list[PositiveInt] = Field(3, description=(
        "window of each convolution in steps (words); one number applies to all (Keras' example: 3)"))
    conv_dropout: Rate | list[Rate] = Field(0.0, description="after each convolution; one number applies to all")
    activation: Activation = Field("relu", description="of the convolutions and the dense layers")
    dense: list[PositiveInt] = Field([250], description="hidden dense layers after the pool (Keras' example: [250])")
    dropout: Rate | list[Rate] = Field(0.2, description=(
        "after each dense layer; one number applies to all (Keras' example: 0.2)"))

    @model_validator(mode="after")
    def _one_per_layer(self):
        _ = self.kernel_sizes, self.conv_dropout_rates, self.dropout_rates  # each raises on a wrong length
        return self

    @property
    def kernel_sizes(self) -> list[int]:
        return per_layer(self.kernel_size, len(self.filters), "kernel_size", "sizes", "convolutions")

    @property
    def conv_dropout_rates(self) -> list[float]:
        return per_layer(self.conv_dropout, len(self.filters), "conv_dropout", "rates", "convolutions")

    @property
    def dropout_rates(self) -> list[float]:
        return per_layer(self.dropout, len(self.dense), "dropout", "rates", "dense layers")


def per_layer(value, layers: int, key: str, what: str, of: str) -> list:
    """One value per layer: a list must have one per layer; a single value applies to all.
    (Like base.per_layer_rates, but the error names the key: this spec has two dropout keys.)"""
    if not isinstance(value, list):
        return [value] * layers
    if len(value) != layers:
        raise ValueError(f"{key} has {len(value)} {what} for {layers} {of}; give one per layer, "
                         "or a single number")
    return list(value)


FAMILY = REGISTRY.register(ModelFamily(Conv1DSpec, build_conv1d, ALL_TASKS))
