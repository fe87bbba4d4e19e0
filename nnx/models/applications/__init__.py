"""The ImageNet architectures of the notes' figure 3, as trainable Flax NNX modules.

Each is built layer for layer as the Keras application with `include_top=True` (same layers,
biases, batch-norm options), so parameter counts match Keras's exactly; the output layer returns
logits (the softmax is in the loss). Each architecture's module declares its
family; the spec they share and the Keras default input shapes are here.
"""

from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveInt

from ...spec import Strict

# The Keras applications' default input shapes (height, width, channels), used when no data set
# gives one (e.g. `nnx count-params resnet50`).
APPLICATION_INPUT_SHAPES = {
    "vgg16": (224, 224, 3), "vgg19": (224, 224, 3),
    "resnet50": (224, 224, 3), "resnet101": (224, 224, 3), "resnet152": (224, 224, 3),
    "resnet50v2": (224, 224, 3), "resnet101v2": (224, 224, 3), "resnet152v2": (224, 224, 3),
    "inception_v3": (299, 299, 3), "xception": (299, 299, 3),
}
IMAGE_TASKS = frozenset({"classification", "binary"})


class ApplicationSpec(Strict):
    """An ImageNet architecture of figure 3, layer for layer as Keras builds it (include_top=True)."""

    type: Literal["vgg16", "vgg19", "resnet50", "resnet101", "resnet152", "resnet50v2", "resnet101v2",
                  "resnet152v2", "inception_v3", "xception"]
    classes: PositiveInt | None = Field(None, description="outputs; default: the data set's classes, else 1000")
    input_shape: tuple[PositiveInt, PositiveInt, PositiveInt] | None = Field(
        None, description="(height, width, channels); default: the data set's, else Keras's default")
    weights: Literal["imagenet"] | Path | None = Field(
        None, description="'imagenet': Keras' ImageNet weights (downloaded from Keras' servers on first use, "
                          "md5-checked); a path: a Keras HDF5 weight file of your own; default: random")
    include_top: bool = Field(
        True, description="the ImageNet classifier on top; false: the network ends at its last feature map "
                          "(Keras' include_top=False)")

    @property
    def default_input_shape(self) -> tuple[int, int, int]:
        return APPLICATION_INPUT_SHAPES[self.type]
