"""Convolutional networks (section 4 of the notes): blocks of 3x3 convolutions and pooling, then dense layers.

A block is `convs` convolutions, each followed by optional batch norm and the activation, then
pooling (max or average) and optional dropout. Feature maps shrink block by block while the
number of filters grows; the last maps are flattened into dense layers and the output layer.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Literal

import jax
from flax import nnx
from pydantic import Field, PositiveInt, model_validator

from ..data.base import DataInfo
from ..errors import ConfigError
from ..spec import Strict
from .base import REGISTRY, Activation, ModelFamily, Rate, per_layer_rates
from .mlp import ACTIVATIONS

# Glorot-uniform kernels, as Keras' Conv2D and Dense (the book's networks), like nnx.models.mlp.
_GLOROT = nnx.initializers.glorot_uniform()


def _conv(x, kernel, padding):
    """NHWC x HWIO -> NHWC, stride 1: the one layout XLA's CPU backend runs as its fast Eigen
    convolution wherever the convolution is (`PotentiallyImplementedAsEigenConvolution`)."""
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv2d(x, kernel, padding: tuple[tuple[int, int], tuple[int, int]]):
    """A stride-1 2-D convolution whose two backward convolutions are NHWC/HWIO/NHWC as well.

    JAX's own backward convolutions (a reversed, transposed kernel; batch and features swapped)
    are in layouts that XLA's CPU backend rewrites into the fast one only in a program's entry
    computation, never inside a loop body (a `lax.scan`: evaluation, a vectorized epoch), where
    they fall to an unoptimized loop nest. Here the flips and transposes are explicit, so all
    three are fast anywhere. Same values as `lax.conv_general_dilated`'s gradient, up to rounding.
    """
    return _conv(x, kernel, padding)


def _conv2d_fwd(x, kernel, padding):
    return _conv(x, kernel, padding), (x, kernel)


def _conv2d_bwd(padding, residuals, g):
    x, kernel = residuals
    k_h, k_w = kernel.shape[:2]
    # dx: the output gradient, padded by what the forward pass cut, against the flipped kernel
    # with its in and out features swapped.
    (top, bottom), (left, right) = padding
    dx = _conv(g, jax.numpy.flip(kernel, (0, 1)).transpose(0, 1, 3, 2),
               ((k_h - 1 - top, k_h - 1 - bottom), (k_w - 1 - left, k_w - 1 - right)))
    # dkernel[i, j, c, o] = sum over n, h, w of x_padded[n, h + i, w + j, c] * g[n, h, w, o]: a
    # convolution with the input channels as its batch, the examples as its features, g as the kernel.
    x_padded = jax.numpy.pad(x, ((0, 0), padding[0], padding[1], (0, 0)))
    dkernel = _conv(x_padded.transpose(3, 1, 2, 0), g.transpose(1, 2, 0, 3), ((0, 0), (0, 0)))
    return dx, dkernel.transpose(1, 2, 0, 3)


conv2d.defvjp(_conv2d_fwd, _conv2d_bwd)


def conv_padding(kernel_shape, padding: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """XLA's 'SAME' (the odd pixel of an even kernel goes after) or 'VALID', as explicit pairs."""
    if padding == "valid":
        return ((0, 0), (0, 0))
    return tuple(((k - 1) // 2, k // 2) for k in kernel_shape[:2])


class Conv2D(nnx.Module):
    """A 2-D convolution (cross-correlation, as nnx.Conv and Keras' Conv2D), stride 1, 'same' or 'valid'.

    Same parameters as nnx.Conv: `kernel` (k, k, in, out) and `bias` (out,). On the CPU it is
    `conv2d`, whose forward and backward convolutions all take the fast path of XLA's CPU backend;
    on GPUs and TPUs, `lax.conv_general_dilated` with JAX's own gradient. The earlier im2col matrices (one product over the k*k shifted
    copies of the input) moved 30-60 MB a batch through memory in the 64-filter layers and made
    the MNIST CNN's step about 1.5 times slower.
    """

    def __init__(self, in_features: int, out_features: int, kernel_size: int, *, padding: str = "same",
                 use_bias: bool = True, rngs: nnx.Rngs):
        k = kernel_size
        self.kernel = nnx.Param(_GLOROT(rngs.params(), (k, k, in_features, out_features)))
        self.bias = nnx.Param(jax.numpy.zeros((out_features,))) if use_bias else None
        self.padding = padding

    def __call__(self, x):
        kernel = self.kernel[...]
        padding = conv_padding(kernel.shape, self.padding)
        y = conv2d(x, kernel, padding) if jax.default_backend() == "cpu" else _conv(x, kernel, padding)
        return y if self.bias is None else y + self.bias[...]


def max_pool(x, size: int):
    """Non-overlapping size x size max pooling ('VALID': a ragged edge is dropped) as a reshape and a
    max, whose gradient is a fused equality mask; nnx.max_pool's goes through `select_and_scatter`,
    a slow unfused kernel on XLA's CPU. Ties share the gradient (only exact ties differ from
    nnx.max_pool, which gives it to the first; after a ReLU those are zeros with zero gradient)."""
    n, h, w, c = x.shape
    h, w = h // size, w // size
    return x[:, :h * size, :w * size].reshape(n, h, size, w, size, c).max(axis=(2, 4))


class ConvBlock(nnx.Module):
    """[conv -> (batch norm) -> activation] x convs -> pool -> (dropout)."""

    def __init__(self, in_channels: int, spec, activation: str, *, rngs: nnx.Rngs):
        channels = [in_channels] + [spec.filters] * spec.convs
        # With batch norm right after it, a convolution's bias is redundant (the norm's shift replaces it).
        self.convs = nnx.List([Conv2D(a, b, spec.kernel_size, padding=spec.padding,
                                      use_bias=not spec.batch_norm, rngs=rngs)
                               for a, b in zip(channels[:-1], channels[1:])])
        # Momentum 0.9 (Keras and Flax use 0.99): the running statistics that evaluation uses catch up
        # with the weights within a few dozen steps, which matters for the short runs of a CPU.
        self.norms = nnx.List([nnx.BatchNorm(spec.filters, momentum=0.9, rngs=rngs) for _ in range(spec.convs)]
                              if spec.batch_norm else [])
        self.dropout = nnx.Dropout(spec.dropout)
        self.pool, self.pool_size, self.activation = spec.pool, spec.pool_size, activation

    def __call__(self, x, *, train: bool = False, rngs: nnx.Rngs | None = None):
        act = ACTIVATIONS[self.activation]
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if len(self.norms):
                x = self.norms[i](x, use_running_average=not train)
            x = act(x)
        window = (self.pool_size, self.pool_size)
        if self.pool == "max":
            x = max_pool(x, self.pool_size)
        elif self.pool == "avg":
            x = nnx.avg_pool(x, window, strides=window, padding="VALID")
        return self.dropout(x, deterministic=not train, rngs=rngs)


class CNN(nnx.Module):
    """x (N, H, W, C) -> blocks -> flatten -> (dropout) -> [dense -> activation -> dropout]* -> logits."""

    def __init__(self, input_shape: tuple[int, ...], blocks, dense: list[int], outputs: int, *,
                 activation: str = "relu", flatten_dropout: float = 0.0, dropout: list[float] | None = None,
                 rngs: nnx.Rngs):
        shapes = block_shapes(input_shape, blocks)
        channels = [shapes[0][-1]] + [b.filters for b in blocks]
        self.blocks = nnx.List([ConvBlock(c, b, activation, rngs=rngs) for c, b in zip(channels[:-1], blocks)])
        sizes = [math.prod(shapes[-1]), *dense]
        linear = partial(nnx.Linear, kernel_init=_GLOROT, rngs=rngs)
        self.flatten_dropout = nnx.Dropout(flatten_dropout)
        self.dense = nnx.List([linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
        self.dropout = nnx.List([nnx.Dropout(r) for r in (dropout or [0.0] * len(dense))])
        self.out = linear(sizes[-1], outputs)
        self.activation = activation

    def features(self, x, *, train: bool = False, rngs: nnx.Rngs | None = None) -> list[jax.Array]:
        """The feature maps after each block (the first entry is the input itself)."""
        x = x if x.ndim == 4 else x[..., None]  # (N, H, W) images get a channel axis
        maps = [x]
        for block in self.blocks:
            maps.append(block(maps[-1], train=train, rngs=rngs))
        return maps

    def __call__(self, x, *, train: bool = False, rngs: nnx.Rngs | None = None):
        x = self.features(x, train=train, rngs=rngs)[-1]
        x = x.reshape(x.shape[0], -1)
        x = self.flatten_dropout(x, deterministic=not train, rngs=rngs)
        act = ACTIVATIONS[self.activation]
        for dense, drop in zip(self.dense, self.dropout):
            x = drop(act(dense(x)), deterministic=not train, rngs=rngs)
        return self.out(x)


def block_shapes(input_shape: tuple[int, ...], blocks) -> list[tuple[int, int, int]]:
    """(H, W, C) of the input and after every block, checked: a map may not shrink to nothing."""
    if len(input_shape) == 2:
        input_shape = (*input_shape, 1)
    if len(input_shape) != 3:
        raise ConfigError(f"model.type cnn needs images (height, width, channels); this data set's inputs "
                          f"have shape {tuple(input_shape)}")
    h, w, c = input_shape
    shapes = [(h, w, c)]
    for i, b in enumerate(blocks):
        for _ in range(b.convs):
            if b.padding == "valid":
                h, w = h - b.kernel_size + 1, w - b.kernel_size + 1
            if h < 1 or w < 1:
                raise ConfigError(f"model.blocks[{i}]: a {b.kernel_size}x{b.kernel_size} 'valid' convolution "
                                  f"does not fit the {shapes[-1][0]}x{shapes[-1][1]} maps reaching it; "
                                  "use padding: same, a smaller kernel, or fewer blocks")
        if b.pool != "none":
            if h < b.pool_size or w < b.pool_size:
                raise ConfigError(f"model.blocks[{i}]: pool_size {b.pool_size} is larger than the {h}x{w} maps "
                                  "reaching it; use pool: none, a smaller pool_size, or fewer blocks")
            h, w = h // b.pool_size, w // b.pool_size
        shapes.append((h, w, b.filters))
    return shapes


def build_cnn(spec, info: DataInfo, rngs: nnx.Rngs) -> CNN:
    return CNN(tuple(info.input_shape), list(spec.blocks), list(spec.dense), info.outputs,
               activation=spec.activation, flatten_dropout=spec.flatten_dropout, dropout=spec.dropout_rates,
               rngs=rngs)


class ConvBlockSpec(Strict):
    """One block of a CNN: `convs` convolutions (+ batch norm) + activation, then pooling."""

    filters: PositiveInt
    kernel_size: PositiveInt = 3
    convs: PositiveInt = Field(1, description="convolutions in the block, each with `filters` filters")
    padding: Literal["same", "valid"] = "same"
    pool: Literal["max", "avg", "none"] = "max"
    pool_size: PositiveInt = 2
    batch_norm: bool = False
    dropout: Rate = Field(0.0, description="dropout after the block's pooling")


CNN_PRESETS: dict[str, dict] = {
    # The book's CIFAR-100 network (ISLR 2nd ed., section 10.9.3): four blocks of one 3x3
    # same-padding convolution + ReLU + 2x2 max-pool with 32, 64, 128, 256 filters; flatten,
    # dropout 0.5, dense 512 (ReLU), softmax over 100 classes: 964,516 parameters.
    "cifar100_book": {
        "blocks": [{"filters": f, "kernel_size": 3, "padding": "same", "pool": "max", "pool_size": 2}
                   for f in (32, 64, 128, 256)],
        "dense": [512],
        "activation": "relu",
        "flatten_dropout": 0.5,
        "dropout": 0.0,
    },
}


class CNNSpec(Strict):
    """A convolutional network: blocks whose maps shrink while the filters grow, then dense layers."""

    type: Literal["cnn"]
    preset: Literal["cifar100_book"] | None = Field(None, description="a named network; other keys override it")
    blocks: list[ConvBlockSpec] = Field(min_length=1)
    dense: list[PositiveInt] = Field([], description="hidden dense layers after flattening")
    activation: Activation = "relu"
    flatten_dropout: Rate = Field(0.0, description="dropout on the flattened feature maps")
    dropout: Rate | list[Rate] = Field(0.0, description="after each dense layer; one number applies to all")

    @model_validator(mode="before")
    @classmethod
    def _fill_preset(cls, data):
        # A preset that is not a name (a list, a mapping) is left to the field's own type error.
        if isinstance(data, dict) and isinstance(data.get("preset"), str) and data["preset"] in CNN_PRESETS:
            data = {**CNN_PRESETS[data["preset"]], **data}
        return data

    @model_validator(mode="after")
    def _dropout_per_layer(self):
        per_layer_rates(self.dropout, len(self.dense), "dense")
        return self

    @property
    def dropout_rates(self) -> list[float]:
        return per_layer_rates(self.dropout, len(self.dense), "dense")


FAMILY = REGISTRY.register(ModelFamily(CNNSpec, build_cnn, frozenset({"classification", "binary"})))
