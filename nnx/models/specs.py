"""The `model:` section of an experiment: one schema per model family, chosen by `type`.

Kept free of JAX so that a config is validated in milliseconds.
"""

from typing import Annotated, Literal

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


# Named networks: `preset: NAME` fills the keys not given in the file.
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
        if isinstance(data, dict) and data.get("preset") in CNN_PRESETS:
            data = {**CNN_PRESETS[data["preset"]], **data}
        return data

    @model_validator(mode="after")
    def _dropout_per_layer(self):
        if isinstance(self.dropout, list) and len(self.dropout) != len(self.dense):
            raise ValueError(f"dropout has {len(self.dropout)} rates for {len(self.dense)} dense layers; "
                             "give one rate per dense layer, or a single number")
        return self

    @property
    def dropout_rates(self) -> list[float]:
        return list(self.dropout) if isinstance(self.dropout, list) else [self.dropout] * len(self.dense)


ModelSpec = Annotated[MLPSpec | LogisticSpec | LDASpec | CNNSpec, Field(discriminator="type")]
