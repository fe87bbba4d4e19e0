"""Closed-form baselines fitted by scikit-learn, behind the same run folder as the networks."""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..data.base import Dataset
from ..spec import Strict
from .base import REGISTRY, ModelFamily


class LDA:
    """Linear discriminant analysis on the flattened inputs (section 3.6's baseline).

    For a binary task it gives the binary metrics their one logit, log p1 - log p0 (the
    log-posterior odds of class 1); for classification, one log-posterior per class.
    """

    def __init__(self, spec, binary: bool = False):
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        shrinkage = spec.shrinkage if spec.solver != "svd" else None
        self.estimator = LinearDiscriminantAnalysis(solver=spec.solver, shrinkage=shrinkage)
        self.binary = binary

    def fit(self, data: Dataset) -> LDA:
        self.estimator.fit(_flat(data.x_train), data.y_train)
        return self

    def predict_scores(self, x: np.ndarray) -> np.ndarray:
        """Log-posterior class scores, usable as logits by the classification metrics; for a
        binary task, the one logit log p1 - log p0, shape (n, 1)."""
        log_p = self.estimator.predict_log_proba(_flat(x))
        if self.binary:
            return (log_p[:, 1] - log_p[:, 0])[:, None]
        return log_p

    def num_params(self) -> int:
        # Coefficients and intercepts of the linear decision functions.
        return int(self.estimator.coef_.size + self.estimator.intercept_.size)


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).astype(np.float64)


def build_lda(spec, info=None) -> LDA:
    return LDA(spec, binary=info is not None and info.task == "binary")


class LDASpec(Strict):
    """Linear discriminant analysis (scikit-learn), fitted in closed form: no epochs."""

    type: Literal["lda"]
    solver: Literal["svd", "lsqr", "eigen"] = "svd"
    shrinkage: float | Literal["auto"] | None = None


FAMILY = REGISTRY.register(ModelFamily(LDASpec, build_lda, frozenset({"classification", "binary"}),
                                       network=False, features_only=True))
