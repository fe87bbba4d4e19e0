"""Xception as in `keras.applications.xception` with `include_top=True` (299x299x3).

Separable convolutions (depthwise 3x3 + pointwise 1x1) without biases, each followed by batch
norm (Keras defaults: epsilon 1e-3, with a scale); residual 1x1/2 projections without bias plus
batch norm in the entry and exit flows; 8 middle blocks of three ReLU-SepConv-BN with an identity
shortcut; two final SepConv-BN-ReLU; global average pooling and the output layer.
"""

from __future__ import annotations

from typing import Literal

import jax
from flax import nnx

from ..base import REGISTRY
from . import IMAGE_TASKS, ApplicationFamily, ApplicationSpec
from .layers import ConvBN, SeparableConv, batch_norm, dense, image_shape_and_classes, max_pool


class SepConvBN(nnx.Module):
    """[ReLU ->] SeparableConv2D (no bias) -> BatchNorm."""

    def __init__(self, cin: int, cout: int, *, relu_first: bool, rngs: nnx.Rngs):
        self.sepconv = SeparableConv(cin, cout, rngs=rngs)
        self.bn = batch_norm(cout, rngs=rngs)
        self.relu_first = relu_first

    def __call__(self, x, train: bool = False):
        if self.relu_first:
            x = jax.nn.relu(x)
        return self.bn(self.sepconv(x), use_running_average=not train)


class DownBlock(nnx.Module):
    """Entry/exit flow block: two SepConv-BN, 3x3/2 max pool, plus a 1x1/2 projected residual."""

    def __init__(self, cin: int, mid: int, cout: int, *, relu_first: bool, rngs: nnx.Rngs):
        self.residual = ConvBN(cin, cout, 1, strides=2, padding="SAME", use_bias=False, relu=False, rngs=rngs)
        self.sepconv1 = SepConvBN(cin, mid, relu_first=relu_first, rngs=rngs)
        self.sepconv2 = SepConvBN(mid, cout, relu_first=True, rngs=rngs)

    def __call__(self, x, train: bool = False):
        residual = self.residual(x, train)
        x = self.sepconv2(self.sepconv1(x, train), train)
        return max_pool(x, 3, 2, padding="SAME") + residual


class MiddleBlock(nnx.Module):
    """Middle flow: three ReLU-SepConv-BN (728 channels) plus the identity."""

    def __init__(self, channels: int = 728, *, rngs: nnx.Rngs):
        self.sepconv1 = SepConvBN(channels, channels, relu_first=True, rngs=rngs)
        self.sepconv2 = SepConvBN(channels, channels, relu_first=True, rngs=rngs)
        self.sepconv3 = SepConvBN(channels, channels, relu_first=True, rngs=rngs)

    def __call__(self, x, train: bool = False):
        return x + self.sepconv3(self.sepconv2(self.sepconv1(x, train), train), train)


class Xception(nnx.Module):
    def __init__(self, input_shape, classes: int, *, include_top: bool = True, rngs: nnx.Rngs):
        self.block1_conv1 = ConvBN(input_shape[-1], 32, 3, strides=2, use_bias=False, rngs=rngs)
        self.block1_conv2 = ConvBN(32, 64, 3, use_bias=False, rngs=rngs)
        self.block2 = DownBlock(64, 128, 128, relu_first=False, rngs=rngs)
        self.block3 = DownBlock(128, 256, 256, relu_first=True, rngs=rngs)
        self.block4 = DownBlock(256, 728, 728, relu_first=True, rngs=rngs)
        for i in range(5, 13):
            setattr(self, f"block{i}", MiddleBlock(728, rngs=rngs))
        self.block13 = DownBlock(728, 728, 1024, relu_first=True, rngs=rngs)
        self.block14_sepconv1 = SeparableConv(1024, 1536, rngs=rngs)
        self.block14_sepconv1_bn = batch_norm(1536, rngs=rngs)
        self.block14_sepconv2 = SeparableConv(1536, 2048, rngs=rngs)
        self.block14_sepconv2_bn = batch_norm(2048, rngs=rngs)
        # without the top (Keras' include_top=False) the output is block14's map
        self.predictions = dense(2048, classes, rngs=rngs) if include_top else None

    def __call__(self, x, *, train: bool = False, rngs: nnx.Rngs | None = None):
        x = self.block1_conv2(self.block1_conv1(x, train), train)
        for i in range(2, 14):
            x = getattr(self, f"block{i}")(x, train)
        x = jax.nn.relu(self.block14_sepconv1_bn(self.block14_sepconv1(x), use_running_average=not train))
        x = jax.nn.relu(self.block14_sepconv2_bn(self.block14_sepconv2(x), use_running_average=not train))
        if self.predictions is None:
            return x
        return self.predictions(x.mean(axis=(1, 2)))


def build_xception(spec, info, rngs: nnx.Rngs) -> Xception:
    shape, classes = image_shape_and_classes(spec, info, min_size=71)
    return Xception(shape, classes, include_top=spec.include_top, rngs=rngs)


class XceptionSpec(ApplicationSpec):
    __doc__ = ApplicationSpec.__doc__

    type: Literal["xception"]


FAMILY = REGISTRY.register(ApplicationFamily(XceptionSpec, build_xception, IMAGE_TASKS))
