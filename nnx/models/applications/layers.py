"""Keras-faithful building blocks for the ImageNet applications.

Keras defaults differ from Flax's, and the parameter counts depend on them: Keras convolutions
pad 'valid' unless told otherwise and have a bias unless `use_bias=False`; Keras batch norm has
epsilon 1e-3, momentum 0.99, a scale (gamma) and a shift (beta) that are trained, and a moving
mean and variance that are not (Flax `nnx.BatchStat`). Kernels are Glorot-uniform, biases zero,
as in Keras.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from ...errors import ConfigError

GLOROT = nnx.initializers.glorot_uniform()


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv(cin: int, cout: int, kernel, *, strides=1, padding="VALID", use_bias=True, groups=1,
         rngs: nnx.Rngs) -> nnx.Conv:
    """A Keras Conv2D: 'valid' padding and a bias by default, Glorot-uniform kernel."""
    return nnx.Conv(cin, cout, _pair(kernel), strides=_pair(strides), padding=padding, use_bias=use_bias,
                    feature_group_count=groups, kernel_init=GLOROT, rngs=rngs)


def batch_norm(channels: int, *, epsilon: float = 1e-3, scale: bool = True, rngs: nnx.Rngs) -> nnx.BatchNorm:
    """A Keras BatchNormalization over the last axis (momentum 0.99)."""
    return nnx.BatchNorm(channels, epsilon=epsilon, momentum=0.99, use_scale=scale, rngs=rngs)


def dense(cin: int, cout: int, *, rngs: nnx.Rngs) -> nnx.Linear:
    """A Keras Dense layer: Glorot-uniform kernel, zero bias."""
    return nnx.Linear(cin, cout, kernel_init=GLOROT, rngs=rngs)


class ConvBN(nnx.Module):
    """Convolution, then batch norm, then (optionally) ReLU: Keras's `conv2d_bn` and friends."""

    def __init__(self, cin: int, cout: int, kernel, *, strides=1, padding="VALID", use_bias=True,
                 epsilon: float = 1e-3, scale: bool = True, relu: bool = True, rngs: nnx.Rngs):
        self.conv = conv(cin, cout, kernel, strides=strides, padding=padding, use_bias=use_bias, rngs=rngs)
        self.bn = batch_norm(cout, epsilon=epsilon, scale=scale, rngs=rngs)
        self.relu = relu

    def __call__(self, x, train: bool = False):
        x = self.bn(self.conv(x), use_running_average=not train)
        return jax.nn.relu(x) if self.relu else x


class SeparableConv(nnx.Module):
    """A Keras SeparableConv2D (depth multiplier 1): depthwise 3x3, then pointwise 1x1."""

    def __init__(self, cin: int, cout: int, kernel=3, *, padding="SAME", use_bias=False, rngs: nnx.Rngs):
        self.depthwise = conv(cin, cin, kernel, padding=padding, use_bias=False, groups=cin, rngs=rngs)
        self.pointwise = conv(cin, cout, 1, use_bias=use_bias, rngs=rngs)

    def __call__(self, x):
        return self.pointwise(self.depthwise(x))


def zero_pad(x, pad: int):
    """Keras ZeroPadding2D: zeros around the two spatial axes (NHWC)."""
    return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))


def max_pool(x, size: int, stride: int, padding="VALID"):
    return nnx.max_pool(x, (size, size), strides=(stride, stride), padding=padding)


def avg_pool_same(x, size: int = 3):
    """Keras AveragePooling2D(3, strides=1, padding='same'): padding is not counted in the mean."""
    return nnx.avg_pool(x, (size, size), strides=(1, 1), padding="SAME", count_include_pad=False)


def image_shape_and_classes(spec, info, *, min_size: int) -> tuple[tuple[int, int, int], int]:
    """The (height, width, channels) input and the number of outputs of an application model.

    The input is the data's shape; `model.input_shape`, when given, must agree with it. The outputs
    are `model.classes` if given, else the data's (its classes, or one for binary/regression).
    """
    shape = tuple(info.input_shape)
    if len(shape) == 2:
        shape = (*shape, 1)
    if spec.input_shape is not None and tuple(spec.input_shape) != shape:
        raise ConfigError(f"model.input_shape {tuple(spec.input_shape)} differs from the data's input shape "
                          f"{shape}; remove model.input_shape or use data of that shape")
    if len(shape) != 3:
        raise ConfigError(f"model.type {spec.type}: needs images (height, width, channels), "
                          f"but the input shape is {shape}")
    if min(shape[:2]) < min_size:
        raise ConfigError(f"model.type {spec.type}: images must be at least {min_size}x{min_size} "
                          f"(as in Keras), got {shape[0]}x{shape[1]}; use larger images or another model")
    classes = spec.classes if spec.classes is not None else (info.outputs if info.num_classes or
                                                             info.task != "classification" else 1000)
    if spec.weights == "imagenet" and spec.include_top and classes != 1000:
        raise ConfigError(f"model.type {spec.type}: the ImageNet top has 1000 outputs, not {classes}; "
                          "set model.include_top: false to put a head of your own on the network")
    return shape, classes
