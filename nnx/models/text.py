"""Models on a bag of words (section 5.2 of the notes), given as padded arrays of word ids.

The notes' design matrix is n x 10K binary; stored densely for IMDB it would be 25,000 x 10,000
floats (1 GB). Here a review is the array of its distinct word ids, and:

- `BagOfWordsMLP`'s first layer sums the rows of a (vocab_size, hidden) weight table over the
  words present: x @ W for a binary x, computed as a gather (`nnx.Embed`) instead of a product.
- `SparseLogistic` fits ridge or lasso logistic regression with scikit-learn on the same ids as a
  scipy CSR matrix.
"""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp
import numpy as np
from flax import nnx
from pydantic import Field, PositiveInt, model_validator

from ..data import text
from ..data.base import DataInfo, Dataset
from ..errors import ConfigError
from ..spec import Strict
from .base import REGISTRY, HiddenLayers, ModelFamily
from .mlp import ACTIVATIONS


class BagOfWordsMLP(nnx.Module):
    """ids -> sum of present words' rows + bias -> activation -> [dense -> activation]* -> logit."""

    def __init__(self, vocab_size: int, hidden: list[int], outputs: int, *, activation: str = "relu",
                 dropout: list[float] | None = None, rngs: nnx.Rngs):
        dropout = dropout or [0.0] * len(hidden)
        # The same initialization as nnx.Linear(vocab_size, hidden[0]): LeCun normal, fan-in = vocab.
        self.embed = nnx.Embed(vocab_size, hidden[0], embedding_init=nnx.initializers.lecun_normal(), rngs=rngs)
        self.bias = nnx.Param(jnp.zeros((hidden[0],), jnp.float32))
        self.hidden = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(hidden[:-1], hidden[1:], strict=True)])
        self.dropout = nnx.List([nnx.Dropout(rate) for rate in dropout])
        self.out = nnx.Linear(hidden[-1], outputs, rngs=rngs)
        self.activation = activation

    def first_layer(self, ids):
        """x @ W + b for the binary vector x whose ones are at `ids` (PAD entries count for nothing)."""
        present = (ids != text.PAD)[..., None].astype(jnp.float32)
        return jnp.sum(self.embed(ids) * present, axis=-2) + self.bias[...]

    def __call__(self, ids, *, train: bool = False, rngs: nnx.Rngs | None = None):
        act = ACTIVATIONS[self.activation]
        x = self.dropout[0](act(self.first_layer(ids)), deterministic=not train, rngs=rngs)
        for dense, drop in zip(self.hidden, self.dropout[1:], strict=True):
            x = drop(act(dense(x)), deterministic=not train, rngs=rngs)
        return self.out(x)


def build_bow_mlp(spec, info: DataInfo, rngs: nnx.Rngs) -> BagOfWordsMLP:
    if info.vocab_size is None:
        raise ConfigError("model type bow_mlp needs word-id inputs: use data name: imdb with representation: bow")
    return BagOfWordsMLP(info.vocab_size, list(spec.hidden), info.outputs, activation=spec.activation,
                         dropout=spec.dropout_rates, rngs=rngs)


class SparseLogistic:
    """Ridge or lasso logistic regression on the sparse binary bag of words (scikit-learn).

    glmnet's objective, mean log-loss + lam * penalty (penalty |b|_1 or |b|^2 / 2), is scikit-learn's
    with C = 1 / (n * lam). l1 uses liblinear (which also penalizes the intercept, lightly here:
    intercept_scaling=10); l2 uses lbfgs.
    """

    def __init__(self, spec, vocab_size: int):
        self.spec, self.vocab_size = spec, vocab_size
        self.estimator = None
        self.C = None

    def fit(self, data: Dataset) -> SparseLogistic:
        from sklearn.linear_model import LogisticRegression

        x = text.bow_csr(data.x_train, self.vocab_size)
        self.C = self.spec.C if self.spec.C is not None else 1.0 / (x.shape[0] * self.spec.lam)
        if self.spec.penalty == "l1":
            options = {"solver": "liblinear", "l1_ratio": 1.0, "intercept_scaling": 10.0}
        else:
            options = {"solver": "lbfgs", "l1_ratio": 0.0}
        self.estimator = LogisticRegression(C=self.C, max_iter=self.spec.max_iter, tol=self.spec.tol, **options)
        self.estimator.fit(x, data.y_train)
        return self

    def predict_scores(self, x: np.ndarray) -> np.ndarray:
        """The logit log(p / (1 - p)), one column, as the binary task's metrics expect."""
        return self.estimator.decision_function(text.bow_csr(x, self.vocab_size))[:, None]

    def num_params(self) -> int:
        return int(self.estimator.coef_.size + self.estimator.intercept_.size)

    def summary_extras(self) -> dict:
        coef = self.estimator.coef_.ravel()
        return {"C": self.C, "lam": self.spec.lam, "penalty": self.spec.penalty,
                "nonzero_coefficients": int(np.count_nonzero(coef)),
                "iterations": int(np.max(self.estimator.n_iter_))}


def build_logistic_sparse(spec, info: DataInfo) -> SparseLogistic:
    if info is None or info.vocab_size is None or info.task != "binary":
        raise ConfigError("model type logistic_sparse needs a binary bag of words: use data name: imdb "
                          "with representation: bow")
    return SparseLogistic(spec, info.vocab_size)


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


BOW_FAMILY = REGISTRY.register(ModelFamily(BowMLPSpec, build_bow_mlp, frozenset({"classification", "binary"})))
SPARSE_LOGISTIC_FAMILY = REGISTRY.register(ModelFamily(LogisticSparseSpec, build_logistic_sparse,
                                                       frozenset({"binary"}), network=False))
