"""ResNet v1 (50/101/152) and v2 (50V2/101V2/152V2) as in `keras.applications.resnet/resnet_v2`.

Keras details kept, since they change the counts: every v1 convolution has a bias (even those
followed by batch norm) and batch norm uses epsilon 1.001e-5; the stem is a 7x7/2 convolution on a
zero-padded input and a 3x3/2 max pool on a zero-padded map. v2 is "pre-activation": batch norm
and ReLU come before each block's convolutions; its 1x1 and 3x3 inner convolutions have no bias,
the last 1x1 and the projection shortcut have one, the stem has no batch norm, and a final batch
norm + ReLU precede the pooling. Both end in global average pooling and a dense output layer.
"""

from __future__ import annotations

from typing import Literal

import jax
from flax import nnx

from ..base import REGISTRY
from . import IMAGE_TASKS, ApplicationFamily, ApplicationSpec
from .layers import ConvBN, batch_norm, conv, dense, image_shape_and_classes, max_pool, zero_pad

EPS = 1.001e-5
BLOCKS = {  # blocks per stage (filters 64, 128, 256, 512; outputs 4x filters)
    "resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3), "resnet152": (3, 8, 36, 3),
    "resnet50v2": (3, 4, 6, 3), "resnet101v2": (3, 4, 23, 3), "resnet152v2": (3, 8, 36, 3),
}
FILTERS = (64, 128, 256, 512)


class Bottleneck(nnx.Module):
    """Keras `block1`: 1x1 (stride) -> 3x3 -> 1x1 (4x filters), each with batch norm; then add."""

    def __init__(self, cin: int, filters: int, *, stride: int = 1, conv_shortcut: bool = True, rngs: nnx.Rngs):
        self.shortcut = (ConvBN(cin, 4 * filters, 1, strides=stride, epsilon=EPS, relu=False, rngs=rngs)
                         if conv_shortcut else None)
        self.conv1 = ConvBN(cin, filters, 1, strides=stride, epsilon=EPS, rngs=rngs)
        self.conv2 = ConvBN(filters, filters, 3, padding="SAME", epsilon=EPS, rngs=rngs)
        self.conv3 = ConvBN(filters, 4 * filters, 1, epsilon=EPS, relu=False, rngs=rngs)

    def __call__(self, x, train: bool = False):
        shortcut = x if self.shortcut is None else self.shortcut(x, train)
        y = self.conv3(self.conv2(self.conv1(x, train), train), train)
        return jax.nn.relu(shortcut + y)


class PreactBottleneck(nnx.Module):
    """Keras `block2`: BN-ReLU, then 1x1 -> 3x3 (stride) -> 1x1 (4x filters); then add."""

    def __init__(self, cin: int, filters: int, *, stride: int = 1, conv_shortcut: bool = False, rngs: nnx.Rngs):
        self.preact_bn = batch_norm(cin, epsilon=EPS, rngs=rngs)
        self.shortcut = conv(cin, 4 * filters, 1, strides=stride, rngs=rngs) if conv_shortcut else None
        self.conv1 = ConvBN(cin, filters, 1, use_bias=False, epsilon=EPS, rngs=rngs)
        self.conv2 = ConvBN(filters, filters, 3, strides=stride, padding=((1, 1), (1, 1)), use_bias=False,
                            epsilon=EPS, rngs=rngs)
        self.conv3 = conv(filters, 4 * filters, 1, rngs=rngs)
        self.stride = stride

    def __call__(self, x, train: bool = False):
        preact = jax.nn.relu(self.preact_bn(x, use_running_average=not train))
        if self.shortcut is not None:
            shortcut = self.shortcut(preact)
        else:  # Keras: MaxPooling2D(1, strides=stride), i.e. subsampling
            shortcut = x[:, :: self.stride, :: self.stride, :] if self.stride > 1 else x
        y = self.conv3(self.conv2(self.conv1(preact, train), train))
        return shortcut + y


class Stack(nnx.Module):
    """One stage: blocks named block1, block2, ... as in Keras (conv2_block1_..)."""

    def __init__(self, blocks: list[nnx.Module]):
        self.count = len(blocks)
        for i, block in enumerate(blocks):
            setattr(self, f"block{i + 1}", block)

    def __call__(self, x, train: bool = False):
        for i in range(self.count):
            x = getattr(self, f"block{i + 1}")(x, train)
        return x


def stack_v1(cin: int, filters: int, blocks: int, stride: int, rngs) -> Stack:
    first = Bottleneck(cin, filters, stride=stride, conv_shortcut=True, rngs=rngs)
    rest = [Bottleneck(4 * filters, filters, conv_shortcut=False, rngs=rngs) for _ in range(blocks - 1)]
    return Stack([first, *rest])


def stack_v2(cin: int, filters: int, blocks: int, stride: int, rngs) -> Stack:
    # Keras `stack2`: the projection is in the first block, the stride in the last.
    out = [PreactBottleneck(cin, filters, conv_shortcut=True, rngs=rngs)]
    out += [PreactBottleneck(4 * filters, filters, rngs=rngs) for _ in range(blocks - 2)]
    out += [PreactBottleneck(4 * filters, filters, stride=stride, rngs=rngs)]
    return Stack(out)


class ResNet(nnx.Module):
    def __init__(self, input_shape, classes: int, blocks, *, preact: bool, include_top: bool = True,
                 rngs: nnx.Rngs):
        self.preact = preact
        self.conv1 = conv(input_shape[-1], 64, 7, strides=2, padding=((3, 3), (3, 3)), rngs=rngs)
        self.conv1_bn = None if preact else batch_norm(64, epsilon=EPS, rngs=rngs)
        cin = 64
        for i, (n, filters) in enumerate(zip(blocks, FILTERS, strict=False)):
            if preact:
                stride = 1 if i == len(blocks) - 1 else 2
                stage = stack_v2(cin, filters, n, stride, rngs)
            else:
                stage = stack_v1(cin, filters, n, 1 if i == 0 else 2, rngs)
            setattr(self, f"conv{i + 2}", stage)
            cin = 4 * filters
        self.post_bn = batch_norm(cin, epsilon=EPS, rngs=rngs) if preact else None
        # without the top (Keras' include_top=False) the output is the last stage's map
        self.predictions = dense(cin, classes, rngs=rngs) if include_top else None

    def __call__(self, x, *, train: bool = False, rngs: nnx.Rngs | None = None):
        x = self.conv1(x)
        if self.conv1_bn is not None:
            x = jax.nn.relu(self.conv1_bn(x, use_running_average=not train))
        x = max_pool(zero_pad(x, 1), 3, 2)
        for i in range(4):
            x = getattr(self, f"conv{i + 2}")(x, train)
        if self.post_bn is not None:
            x = jax.nn.relu(self.post_bn(x, use_running_average=not train))
        if self.predictions is None:
            return x
        return self.predictions(x.mean(axis=(1, 2)))


def build_resnet(spec, info, rngs: nnx.Rngs) -> ResNet:
    shape, classes = image_shape_and_classes(spec, info, min_size=32)
    return ResNet(shape, classes, BLOCKS[spec.type], preact=spec.type.endswith("v2"), include_top=spec.include_top,
                  rngs=rngs)


class ResNetSpec(ApplicationSpec):
    __doc__ = ApplicationSpec.__doc__

    type: Literal["resnet50", "resnet101", "resnet152", "resnet50v2", "resnet101v2", "resnet152v2"]


FAMILY = REGISTRY.register(ApplicationFamily(ResNetSpec, build_resnet, IMAGE_TASKS))
