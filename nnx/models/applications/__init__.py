"""The ImageNet architectures of the notes' figure 3, as trainable Flax NNX modules.

Each is built layer for layer as the Keras application with `include_top=True` (same layers,
biases, batch-norm options), so parameter counts match Keras's exactly; the output layer returns
logits (the softmax is in the loss). Each architecture's module declares its
family; the spec they share and the Keras default input shapes are here.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveInt, model_validator

from ...spec import Strict
from ..base import Activation, ModelFamily, Rate, per_layer_rates

# The Keras applications' default input shapes (height, width, channels), used when no data set
# gives one (e.g. `nnx count-params resnet50`).
APPLICATION_INPUT_SHAPES = {
    "vgg16": (224, 224, 3), "vgg19": (224, 224, 3),
    "resnet50": (224, 224, 3), "resnet101": (224, 224, 3), "resnet152": (224, 224, 3),
    "resnet50v2": (224, 224, 3), "resnet101v2": (224, 224, 3), "resnet152v2": (224, 224, 3),
    "inception_v3": (299, 299, 3), "xception": (299, 299, 3),
}
IMAGE_TASKS = frozenset({"classification", "binary"})
# Channels of each architecture's last feature map (the input of a new head's pooling).
FEATURE_CHANNELS = {"vgg16": 512, "vgg19": 512, "resnet50": 2048, "resnet101": 2048, "resnet152": 2048,
                    "resnet50v2": 2048, "resnet101v2": 2048, "resnet152v2": 2048, "inception_v3": 2048,
                    "xception": 2048}


class HeadSpec(Strict):
    """A new head on a network without its top: global average pooling of the last feature map,
    dense layers (each followed by its activation and dropout), then the output layer."""

    dense: list[PositiveInt] = Field(default_factory=list, description="hidden dense layers' sizes; [] for none")
    activation: Activation = "relu"
    dropout: Rate | list[Rate] = Field(
        0.0, description="after each dense layer (one number applies to all); with no dense layer, "
                         "before the output layer")

    @model_validator(mode="after")
    def _dropout_per_layer(self):
        if self.dense:
            per_layer_rates(self.dropout, len(self.dense), "head dense")
        elif isinstance(self.dropout, list) and len(self.dropout) > 1:
            raise ValueError("model.head.dropout: one rate, applied before the output layer, when head.dense is []")
        return self

    @property
    def dropout_rates(self) -> list[float]:
        return per_layer_rates(self.dropout, len(self.dense), "head dense") if self.dense else []

    @property
    def input_dropout(self) -> float:
        if self.dense:
            return 0.0
        return self.dropout[0] if isinstance(self.dropout, list) and self.dropout else (
            self.dropout if not isinstance(self.dropout, list) else 0.0)


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
    head: HeadSpec | None = Field(
        None, description="transfer learning: a new head on the network without its top (needs include_top: "
                          "false): pooling, dense layers, dropout, an output layer for the data's classes")
    trainable: Literal["all", "head"] = Field(
        "all", description="with a head: 'head' freezes the base (its batch norm in inference mode, its "
                           "weights unchanged), 'all' fine-tunes it too")
    base_learning_rate_factor: float = Field(
        1.0, gt=0, le=1, description="trainable all: the base's learning rate is the optimizer's (schedule "
                                     "included) times this, e.g. 0.1; the head's is the optimizer's")
    cache_features: bool = Field(
        True, description="trainable head without augmentation: the base's pooled features are computed once "
                          "per image, then the head trains on them; false: the frozen base runs every epoch")

    @model_validator(mode="after")
    def _transfer_options(self):
        if self.head is not None and self.include_top:
            raise ValueError("model.head replaces the network's top: set model.include_top: false, or remove "
                             "model.head to train the ImageNet classifier layer as it is")
        # Judged by value, not by which keys were written: a run's config.yaml has every default.
        if self.head is None:
            given = [k for k, default in (("trainable", "all"), ("base_learning_rate_factor", 1.0),
                                          ("cache_features", True)) if getattr(self, k) != default]
            if given:
                raise ValueError(f"model.{given[0]} is for transfer learning: add model.head (and include_top: "
                                 "false), e.g. head: {dense: [256], dropout: 0.3}")
        if self.trainable == "head" and self.base_learning_rate_factor != 1.0:
            raise ValueError("model.base_learning_rate_factor: the base is frozen (trainable: head) and learns "
                             "nothing; set trainable: all to fine-tune it")
        return self

    @property
    def default_input_shape(self) -> tuple[int, int, int]:
        return APPLICATION_INPUT_SHAPES[self.type]


@dataclass(frozen=True)
class ApplicationFamily(ModelFamily):
    """An ImageNet architecture's family: as any network, plus its weight files and, with a
    `head`, transfer learning (nnx/models/applications/transfer.py)."""

    def __post_init__(self):
        build = self.build

        def with_head(spec, info, rngs):
            from .transfer import build_transfer

            return build_transfer(build, spec, info, rngs) if spec.head is not None else build(spec, info, rngs)

        object.__setattr__(self, "build", with_head)

    def check(self, spec, info, training=None, examples=None, devices=None) -> None:
        from .transfer import check_transfer

        check_transfer(spec, info)
        super().check(spec, info, training, examples, devices)

    def make(self, spec, info, seed: int = 0):
        if spec.head is None:
            return super().make(spec, info, seed)
        from flax import nnx

        from .. import build
        from .transfer import Transfer

        return Transfer(build(spec, info, nnx.Rngs(seed)), self, spec, info)
