"""The `model:` section of an experiment: one schema per model family, chosen by `type`.

Kept free of JAX so that a config is validated in milliseconds.
"""

from typing import Annotated, Literal

from pydantic import Field, PositiveInt, model_validator

from ..spec import Strict

Activation = Literal["relu", "sigmoid", "tanh", "gelu", "elu", "selu", "swish", "leaky_relu", "linear"]
Rate = Annotated[float, Field(ge=0, lt=1)]
Init = Annotated[Literal["default", "pytorch"], Field(
    description="default: the family's own (Glorot-uniform dense layers, Flax's cells); "
                "pytorch: PyTorch's defaults, to reproduce a PyTorch lab (nnx/models/init.py)")]


def per_layer_rates(dropout: float | list[float], layers: int, kind: str) -> list[float]:
    """One dropout rate per layer: a list must have one per layer; a number applies to all."""
    if not isinstance(dropout, list):
        return [dropout] * layers
    if len(dropout) != layers:
        raise ValueError(f"dropout has {len(dropout)} rates for {layers} {kind} layers; "
                         f"give one rate per {kind} layer, or a single number")
    return list(dropout)


class HiddenLayers(Strict):
    """Dense hidden layers with an activation and a dropout rate per layer (shared by the MLPs)."""

    hidden: list[PositiveInt]
    activation: Activation = "relu"
    dropout: Rate | list[Rate] = Field(0.0, description="per hidden layer; one number applies to all")

    @model_validator(mode="after")
    def _dropout_per_layer(self):
        per_layer_rates(self.dropout, len(self.hidden), "hidden")
        return self

    @property
    def dropout_rates(self) -> list[float]:
        return per_layer_rates(self.dropout, len(self.hidden), "hidden")


class MLPSpec(HiddenLayers):
    """A fully connected network: inputs flattened, hidden layers, then the output layer."""

    type: Literal["mlp"]
    hidden: list[PositiveInt] = [256, 128]
    input_dropout: Rate = 0.0
    linear_skip: bool = Field(False, description=(
        "add a linear map from the inputs straight to the outputs, beside the hidden layers (a "
        "wide-and-deep network; on lagged series, a linear AR model plus a non-linear correction)"))
    init: Init = "default"


class LogisticSpec(Strict):
    """Multinomial logistic regression: one linear layer, softmax output (no hidden layer)."""

    type: Literal["logistic"]


class LDASpec(Strict):
    """Linear discriminant analysis (scikit-learn), fitted in closed form: no epochs."""

    type: Literal["lda"]
    solver: Literal["svd", "lsqr", "eigen"] = "svd"
    shrinkage: float | Literal["auto"] | None = None


class PerceptronSpec(Strict):
    """Rosenblatt's perceptron (section 2 of the notes), fitted by its own update rule: no epochs."""

    type: Literal["perceptron"]
    max_iterations: int = Field(1000, ge=1, description="stop after this many updates if not converged")


class LinearRegressionSpec(Strict):
    """Ordinary least squares (scikit-learn) on the flattened inputs: no epochs."""

    type: Literal["linear_regression"]


class LassoCVSpec(Strict):
    """The lasso with its penalty chosen by K-fold cross-validation, as in the ISLP lab."""

    type: Literal["lasso_cv"]
    folds: int = Field(10, ge=2)
    alphas: int = Field(100, ge=1, description="grid size: lambda_max down to lambda_max * min_ratio")
    min_ratio: float = Field(0.01, gt=0, lt=1)
    scoring: Literal["mae", "mse"] = Field("mae", description="the CV criterion (ISLP: mean absolute error)")
    cv_seed: int = Field(1, description="random_state of the shuffled K folds (ISLP: 1)")


class BowMLPSpec(HiddenLayers):
    """An MLP on a bag of words given as word ids: the first layer sums embedding rows of the
    words present, which equals the dense product of the binary vector with a weight matrix."""

    type: Literal["bow_mlp"]
    hidden: list[PositiveInt] = Field([16, 16], min_length=1)


class LogisticSparseSpec(Strict):
    """Ridge (l2) or lasso (l1) logistic regression on the sparse bag of words (scikit-learn).

    Give the penalty as `lam` (glmnet's lambda: mean log-loss + lam * penalty) or as
    scikit-learn's `C` (sum of log-losses * C + penalty); C = 1 / (n * lam)."""

    type: Literal["logistic_sparse"]
    penalty: Literal["l1", "l2"] = "l1"
    lam: float | None = Field(None, gt=0, description="glmnet-style lambda")
    C: float | None = Field(None, gt=0, description="scikit-learn's inverse regularization strength")
    max_iter: int = Field(1000, ge=1)
    tol: float = Field(1e-4, gt=0)

    @model_validator(mode="after")
    def _one_strength(self):
        if (self.lam is None) == (self.C is None):
            raise ValueError("give exactly one of lam and C")
        return self


class RNNSpec(Strict):
    """A recurrent network: [embedding] -> recurrent layer(s) -> dropout -> dense output.

    `embedding` set: inputs are integer token ids (N, T); unset: float sequences (N, T, F).
    The output reads the final hidden state A_L (equation 19 of the notes)."""

    type: Literal["rnn"]
    cell: Literal["simple", "lstm", "gru"] = "simple"
    units: PositiveInt = 32
    embedding: PositiveInt | None = None
    dropout: Rate = Field(0.0, description="on the final hidden state, before the output layer")
    layers: PositiveInt = 1
    init: Init = "default"


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


ModelSpec = Annotated[
    MLPSpec
    | LogisticSpec
    | LDASpec
    | PerceptronSpec
    | LinearRegressionSpec
    | LassoCVSpec
    | BowMLPSpec
    | LogisticSparseSpec
    | RNNSpec
    | ApplicationSpec
    | CNNSpec,
    Field(discriminator="type"),
]
