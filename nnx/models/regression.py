"""Linear regression baselines fitted by scikit-learn: least squares and the cross-validated lasso.

Both see the inputs flattened (a lagged sequence becomes one row of lags x series values) and
predict one column, the regression task's output.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..data.base import Dataset
from ..spec import Strict
from .base import REGISTRY, ModelFamily


def _flat(x) -> np.ndarray:
    return np.asarray(x, np.float64).reshape(len(x), -1)


class _Linear:
    estimator = None

    def fit(self, data: Dataset):
        self.estimator.fit(_flat(data.x_train), np.asarray(data.y_train, np.float64))
        return self

    def predict_scores(self, x) -> np.ndarray:
        return self.estimator.predict(_flat(x))[:, None]

    def num_params(self) -> int:
        return int(np.size(self.coef_) + 1)

    @property
    def coef_(self):
        return getattr(self.estimator, "coef_", np.zeros(0))


class LinearRegression(_Linear):
    """Ordinary least squares: the ISLP lab's OLS baseline on Hitters and its AR model on NYSE."""

    def __init__(self, spec=None):
        from sklearn.linear_model import LinearRegression as OLS

        self.estimator = OLS()


class LassoCV(_Linear):
    """The lasso, its penalty chosen by K-fold CV over a log grid, as in the ISLP Hitters lab.

    The grid runs from lambda_max (the smallest penalty that zeroes every coefficient) down to
    lambda_max * min_ratio; the folds are shuffled with `cv_seed`; the criterion is the mean
    absolute error by default (ISLP's `scoring='neg_mean_absolute_error'`).
    """

    def __init__(self, spec):
        self.spec = spec
        self.alpha: float | None = None

    def fit(self, data: Dataset):
        from sklearn.linear_model import Lasso
        from sklearn.model_selection import GridSearchCV, KFold

        x, y = _flat(data.x_train), np.asarray(data.y_train, np.float64)
        xc = x - x.mean(axis=0)
        lam_max = np.abs(xc.T @ (y - y.mean())).max() / len(x)
        grid = np.exp(np.linspace(0, np.log(self.spec.min_ratio), self.spec.alphas)) * lam_max
        scoring = {"mae": "neg_mean_absolute_error", "mse": "neg_mean_squared_error"}[self.spec.scoring]
        search = GridSearchCV(Lasso(max_iter=30_000), {"alpha": grid}, scoring=scoring,
                              cv=KFold(self.spec.folds, shuffle=True, random_state=self.spec.cv_seed))
        search.fit(x, y)
        self.estimator = search.best_estimator_
        self.alpha = float(search.best_params_["alpha"])
        return self

    def summary_extras(self) -> dict:
        return {"alpha": self.alpha, "nonzero_coefficients": int(np.count_nonzero(self.coef_))}


def build_linear_regression(spec, info=None) -> LinearRegression:
    return LinearRegression(spec)


def build_lasso_cv(spec, info=None) -> LassoCV:
    return LassoCV(spec)


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


REGRESSION_ONLY = frozenset({"regression"})
OLS_FAMILY = REGISTRY.register(ModelFamily(LinearRegressionSpec, build_linear_regression, REGRESSION_ONLY, network=False))
LASSO_FAMILY = REGISTRY.register(ModelFamily(LassoCVSpec, build_lasso_cv, REGRESSION_ONLY, network=False))
