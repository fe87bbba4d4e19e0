"""The `model:` section of an experiment: one schema per model family, chosen by `type`.

Kept free of JAX so that a config is validated in milliseconds.
"""

from typing import Annotated, Literal, Union

from pydantic import Field, PositiveInt, model_validator

from ..spec import Strict

Activation = Literal["relu", "sigmoid", "tanh", "gelu", "elu", "selu", "swish", "leaky_relu", "linear"]
Rate = Annotated[float, Field(ge=0, lt=1)]


class MLPSpec(Strict):
    """A fully connected network: inputs flattened, hidden layers, then the output layer."""

    type: Literal["mlp"]
    hidden: list[PositiveInt] = [256, 128]
    activation: Activation = "relu"
    dropout: Rate | list[Rate] = Field(0.0, description="per hidden layer; one number applies to all")
    input_dropout: Rate = 0.0

    @model_validator(mode="after")
    def _dropout_per_layer(self):
        if isinstance(self.dropout, list) and len(self.dropout) != len(self.hidden):
            raise ValueError(f"dropout has {len(self.dropout)} rates for {len(self.hidden)} hidden layers; "
                             "give one rate per hidden layer, or a single number")
        return self

    @property
    def dropout_rates(self) -> list[float]:
        return list(self.dropout) if isinstance(self.dropout, list) else [self.dropout] * len(self.hidden)


class LogisticSpec(Strict):
    """Multinomial logistic regression: one linear layer, softmax output (no hidden layer)."""

    type: Literal["logistic"]


class LDASpec(Strict):
    """Linear discriminant analysis (scikit-learn), fitted in closed form: no epochs."""

    type: Literal["lda"]
    solver: Literal["svd", "lsqr", "eigen"] = "svd"
    shrinkage: float | Literal["auto"] | None = None


# The Keras applications' default input shapes (height, width, channels), used when no data set
# gives one (e.g. `nnx count-params resnet50`).
APPLICATION_INPUT_SHAPES = {
    "vgg16": (224, 224, 3), "vgg19": (224, 224, 3),
    "resnet50": (224, 224, 3), "resnet101": (224, 224, 3), "resnet152": (224, 224, 3),
    "resnet50v2": (224, 224, 3), "resnet101v2": (224, 224, 3), "resnet152v2": (224, 224, 3),
    "inception_v3": (299, 299, 3), "xception": (299, 299, 3),
}


class ApplicationSpec(Strict):
    """An ImageNet architecture of figure 3, layer for layer as Keras builds it (include_top=True)."""

    type: Literal["vgg16", "vgg19", "resnet50", "resnet101", "resnet152", "resnet50v2", "resnet101v2",
                  "resnet152v2", "inception_v3", "xception"]
    classes: PositiveInt | None = Field(None, description="outputs; default: the data set's classes, else 1000")
    input_shape: tuple[PositiveInt, PositiveInt, PositiveInt] | None = Field(
        None, description="(height, width, channels); default: the data set's, else Keras's default")

    @property
    def default_input_shape(self) -> tuple[int, int, int]:
        return APPLICATION_INPUT_SHAPES[self.type]


ModelSpec = Annotated[Union[MLPSpec, LogisticSpec, LDASpec, ApplicationSpec], Field(discriminator="type")]
