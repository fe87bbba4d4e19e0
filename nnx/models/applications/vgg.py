"""VGG16 and VGG19 as in `keras.applications.vgg16/vgg19` with `include_top=True`.

Five blocks of 3x3 'same' convolutions with biases and ReLU, each closed by 2x2 max pooling;
then flatten, two 4096-unit dense layers with ReLU, and the output layer (logits: the softmax is
in the loss). No batch norm, no dropout, as in Keras.
"""

from __future__ import annotations

from typing import Literal

import jax
from flax import nnx

from ..base import REGISTRY
from . import IMAGE_TASKS, ApplicationFamily, ApplicationSpec
from .layers import conv, dense, image_shape_and_classes, max_pool

CONFIGS = {  # convolutions per block; the filters are 64, 128, 256, 512, 512
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}
FILTERS = (64, 128, 256, 512, 512)


class VGGBlock(nnx.Module):
    def __init__(self, cin: int, cout: int, convs: int, *, rngs: nnx.Rngs):
        self.convs = convs
        for i in range(convs):
            setattr(self, f"conv{i + 1}", conv(cin if i == 0 else cout, cout, 3, padding="SAME", rngs=rngs))

    def __call__(self, x):
        for i in range(self.convs):
            x = jax.nn.relu(getattr(self, f"conv{i + 1}")(x))
        return max_pool(x, 2, 2)


class VGG(nnx.Module):
    def __init__(self, input_shape, classes: int, convs_per_block, *, include_top: bool = True, rngs: nnx.Rngs):
        height, width, channels = input_shape
        cin = channels
        self.blocks = len(convs_per_block)
        for i, (convs, cout) in enumerate(zip(convs_per_block, FILTERS, strict=True)):
            setattr(self, f"block{i + 1}", VGGBlock(cin, cout, convs, rngs=rngs))
            cin = cout
            height, width = height // 2, width // 2
        self.include_top = include_top
        if include_top:  # without the top (Keras' include_top=False) the output is block5's pooled map
            self.fc1 = dense(height * width * cin, 4096, rngs=rngs)
            self.fc2 = dense(4096, 4096, rngs=rngs)
            self.predictions = dense(4096, classes, rngs=rngs)

    def __call__(self, x, *, train: bool = False, rngs: nnx.Rngs | None = None):
        for i in range(self.blocks):
            x = getattr(self, f"block{i + 1}")(x)
        if not self.include_top:
            return x
        x = x.reshape(x.shape[0], -1)
        x = jax.nn.relu(self.fc1(x))
        x = jax.nn.relu(self.fc2(x))
        return self.predictions(x)


def build_vgg(spec, info, rngs: nnx.Rngs) -> VGG:
    shape, classes = image_shape_and_classes(spec, info, min_size=32)
    return VGG(shape, classes, CONFIGS[spec.type], include_top=spec.include_top, rngs=rngs)


class VGGSpec(ApplicationSpec):
    __doc__ = ApplicationSpec.__doc__

    type: Literal["vgg16", "vgg19"]


FAMILY = REGISTRY.register(ApplicationFamily(VGGSpec, build_vgg, IMAGE_TASKS))
