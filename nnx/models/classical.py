"""Closed-form baselines fitted by scikit-learn, behind the same run folder as the networks."""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..data.base import Dataset
from ..spec import Strict
from .base import REGISTRY, ModelFamily


class LDA:
    """Linear discriminant analysis on the flattened inputs (section 3.6's baseline)."""

    def __init__(self, spec):
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        shrinkage = spec.shrinkage if spec.solver != "svd" else None
        self.estimator = LinearDiscriminantAnalysis(solver=spec.solver, shrinkage=shrinkage)

    def fit(self, data: Dataset) -> LDA:
        self.estimator.fit(_flat(data.x_train), data.y_train)
        return self

    def predict_scores(self, x: np.ndarray) -> np.ndarray:
        """Log-posterior class scores, usable as logits by the classification metrics."""
        return self.estimator.predict_log_proba(_flat(x))

    def num_params(self) -> int:
        # Coefficients and intercepts of the linear decision functions.
        return int(self.estimator.coef_.size + self.estimator.intercept_.size)


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).astype(np.float64)


def build_lda(spec, info=None) -> LDA:
    return LDA(spec)


class LDASpec(Strict):
    """Linear discriminant analysis (scikit-learn), fitted in closed form: no epochs."""

    type: Literal["lda"]
    solver: Literal["svd", "lsqr", "eigen"] = "svd"
    shrinkage: float | Literal["auto"] | None = None


FAMILY = REGISTRY.register(ModelFamily(LDASpec, build_lda, frozenset({"classification"}), network=False))
