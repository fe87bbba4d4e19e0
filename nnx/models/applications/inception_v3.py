"""Inception v3 as in `keras.applications.inception_v3` with `include_top=True` (299x299x3).

Every convolution is Keras's `conv2d_bn`: no bias, batch norm without a scale (`scale=False`:
only beta is trained), ReLU. Mixed blocks 0-10 concatenate their branches on the channel axis;
the average-pooling branches pool 3x3 'same' with stride 1. No auxiliary classifier (Keras has none).
"""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp
from flax import nnx

from ..base import REGISTRY
from . import IMAGE_TASKS, ApplicationFamily, ApplicationSpec
from .layers import ConvBN, avg_pool_same, dense, image_shape_and_classes, max_pool


def conv_bn(cin, cout, kernel, *, strides=1, padding="SAME", rngs) -> ConvBN:
    return ConvBN(cin, cout, kernel, strides=strides, padding=padding, use_bias=False, scale=False, rngs=rngs)


class Branch(nnx.Module):
    """A chain of conv_bn layers, optionally after a pooling step ('avg' or 'max')."""

    def __init__(self, cin: int, layers, *, pool: str | None = None, rngs: nnx.Rngs):
        # layers: (filters, kernel, strides, padding) tuples
        self.pool = pool
        self.count = len(layers)
        for i, (cout, kernel, strides, padding) in enumerate(layers):
            setattr(self, f"conv{i + 1}", conv_bn(cin, cout, kernel, strides=strides, padding=padding, rngs=rngs))
            cin = cout
        self.out_channels = cin

    def __call__(self, x, train: bool = False):
        if self.pool == "avg":
            x = avg_pool_same(x)
        for i in range(self.count):
            x = getattr(self, f"conv{i + 1}")(x, train)
        return x


class Split(nnx.Module):
    """Mixed 9/10's split branch: one conv_bn chain, then two parallel 1x3 and 3x1 conv_bn, concatenated."""

    def __init__(self, cin: int, stem, width: int, *, rngs: nnx.Rngs):
        self.stem = Branch(cin, stem, rngs=rngs)
        self.a = conv_bn(self.stem.out_channels, width, (1, 3), rngs=rngs)
        self.b = conv_bn(self.stem.out_channels, width, (3, 1), rngs=rngs)
        self.out_channels = 2 * width

    def __call__(self, x, train: bool = False):
        x = self.stem(x, train)
        return jnp.concatenate([self.a(x, train), self.b(x, train)], axis=-1)


class Mixed(nnx.Module):
    """An inception block: branches side by side, concatenated; optionally a max-pool branch."""

    def __init__(self, branches: dict[str, nnx.Module], *, max_pool_branch: bool = False, cin: int = 0):
        self.names = tuple(branches)
        for name, branch in branches.items():
            setattr(self, name, branch)
        self.max_pool_branch = max_pool_branch
        self.out_channels = sum(b.out_channels for b in branches.values()) + (cin if max_pool_branch else 0)

    def __call__(self, x, train: bool = False):
        outs = [getattr(self, name)(x, train) for name in self.names]
        if self.max_pool_branch:
            outs.append(max_pool(x, 3, 2))
        return jnp.concatenate(outs, axis=-1)


def _l(cout, kernel, strides=1, padding="SAME"):
    return (cout, kernel, strides, padding)


def mixed_a(cin, pool_filters, rngs) -> Mixed:  # mixed 0, 1, 2: 35x35
    return Mixed({
        "branch1x1": Branch(cin, [_l(64, 1)], rngs=rngs),
        "branch5x5": Branch(cin, [_l(48, 1), _l(64, 5)], rngs=rngs),
        "branch3x3dbl": Branch(cin, [_l(64, 1), _l(96, 3), _l(96, 3)], rngs=rngs),
        "branch_pool": Branch(cin, [_l(pool_filters, 1)], pool="avg", rngs=rngs),
    })


def mixed_b(cin, rngs) -> Mixed:  # mixed 3: 35x35 -> 17x17
    return Mixed({
        "branch3x3": Branch(cin, [_l(384, 3, 2, "VALID")], rngs=rngs),
        "branch3x3dbl": Branch(cin, [_l(64, 1), _l(96, 3), _l(96, 3, 2, "VALID")], rngs=rngs),
    }, max_pool_branch=True, cin=cin)


def mixed_c(cin, c7, rngs) -> Mixed:  # mixed 4-7: 17x17, factorized 7x7
    return Mixed({
        "branch1x1": Branch(cin, [_l(192, 1)], rngs=rngs),
        "branch7x7": Branch(cin, [_l(c7, 1), _l(c7, (1, 7)), _l(192, (7, 1))], rngs=rngs),
        "branch7x7dbl": Branch(cin, [_l(c7, 1), _l(c7, (7, 1)), _l(c7, (1, 7)), _l(c7, (7, 1)),
                                     _l(192, (1, 7))], rngs=rngs),
        "branch_pool": Branch(cin, [_l(192, 1)], pool="avg", rngs=rngs),
    })


def mixed_d(cin, rngs) -> Mixed:  # mixed 8: 17x17 -> 8x8
    return Mixed({
        "branch3x3": Branch(cin, [_l(192, 1), _l(320, 3, 2, "VALID")], rngs=rngs),
        "branch7x7x3": Branch(cin, [_l(192, 1), _l(192, (1, 7)), _l(192, (7, 1)), _l(192, 3, 2, "VALID")],
                              rngs=rngs),
    }, max_pool_branch=True, cin=cin)


def mixed_e(cin, rngs) -> Mixed:  # mixed 9, 10: 8x8
    return Mixed({
        "branch1x1": Branch(cin, [_l(320, 1)], rngs=rngs),
        "branch3x3": Split(cin, [_l(384, 1)], 384, rngs=rngs),
        "branch3x3dbl": Split(cin, [_l(448, 1), _l(384, 3)], 384, rngs=rngs),
        "branch_pool": Branch(cin, [_l(192, 1)], pool="avg", rngs=rngs),
    })


class InceptionV3(nnx.Module):
    def __init__(self, input_shape, classes: int, *, include_top: bool = True, rngs: nnx.Rngs):
        c = input_shape[-1]
        self.conv1 = conv_bn(c, 32, 3, strides=2, padding="VALID", rngs=rngs)
        self.conv2 = conv_bn(32, 32, 3, padding="VALID", rngs=rngs)
        self.conv3 = conv_bn(32, 64, 3, rngs=rngs)
        self.conv4 = conv_bn(64, 80, 1, padding="VALID", rngs=rngs)
        self.conv5 = conv_bn(80, 192, 3, padding="VALID", rngs=rngs)
        blocks, cin = [], 192
        for make in ([lambda c: mixed_a(c, 32, rngs)] + [lambda c: mixed_a(c, 64, rngs)] * 2
                     + [lambda c: mixed_b(c, rngs)]
                     + [lambda c, c7=c7: mixed_c(c, c7, rngs) for c7 in (128, 160, 160, 192)]
                     + [lambda c: mixed_d(c, rngs)] + [lambda c: mixed_e(c, rngs)] * 2):
            block = make(cin)
            blocks.append(block)
            cin = block.out_channels
        for i, block in enumerate(blocks):
            setattr(self, f"mixed{i}", block)
        # without the top (Keras' include_top=False) the output is mixed10's map
        self.predictions = dense(cin, classes, rngs=rngs) if include_top else None

    def __call__(self, x, *, train: bool = False, rngs: nnx.Rngs | None = None):
        x = self.conv3(self.conv2(self.conv1(x, train), train), train)
        x = max_pool(x, 3, 2)
        x = self.conv5(self.conv4(x, train), train)
        x = max_pool(x, 3, 2)
        for i in range(11):
            x = getattr(self, f"mixed{i}")(x, train)
        if self.predictions is None:
            return x
        return self.predictions(x.mean(axis=(1, 2)))


def build_inception_v3(spec, info, rngs: nnx.Rngs) -> InceptionV3:
    shape, classes = image_shape_and_classes(spec, info, min_size=75)
    return InceptionV3(shape, classes, include_top=spec.include_top, rngs=rngs)


class InceptionV3Spec(ApplicationSpec):
    __doc__ = ApplicationSpec.__doc__

    type: Literal["inception_v3"]


FAMILY = REGISTRY.register(ApplicationFamily(InceptionV3Spec, build_inception_v3, IMAGE_TASKS))
