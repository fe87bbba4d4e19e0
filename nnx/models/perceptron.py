"""Rosenblatt's perceptron, as section 2 of the notes writes it (equations 1-5).

Labels y in {-1, +1} (the data's 0/1, mapped), inputs with a constant 1 appended so that the last
weight is the bias. Then:

    predict  ŷ = +1 if <ω, x> >= 0, else -1                  (1)-(3)
    start    ω(1) = 0
    repeat   take a misclassified example i (ŷ_i != y_i)     (4)
             ω(t+1) = ω(t) + y_i x_i                          (5)
    until    every training example is classified correctly, or after `max_iterations` updates.

Which misclassified example: the first one in the training order, so the run is deterministic.
"Misclassified" follows the classifier (1)-(2), under which a score of exactly 0 means +1: an
example with y = -1 and <ω, x> = 0 is misclassified. Equation (4) read literally (y<ω, x> < 0)
would call every example correct at ω = 0, and the algorithm would stop before its first update.

The loop is a `jax.lax.while_loop`, compiled once; each iteration scores all examples (one
matrix-vector product) to find the first mistake.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from ..data.base import Dataset
from ..spec import Strict
from .base import REGISTRY, ModelFamily


def with_bias(x) -> np.ndarray:
    """Flatten the inputs and append the constant 1 whose weight is the bias."""
    x = np.asarray(x, np.float32).reshape(len(x), -1)
    return np.concatenate([x, np.ones((len(x), 1), np.float32)], axis=1)


def predict_sign(w, x):
    """Equations (1)-(3): +1 where <ω, x> >= 0, else -1."""
    return jnp.where(x @ w >= 0, 1.0, -1.0)


def misclassified(w, x, y):
    return predict_sign(w, x) != y


@jax.jit
def rosenblatt(x, y, max_iterations):
    """Run the algorithm on x (n, d) with a bias column and y in {-1, +1}.

    Returns (ω, updates, converged): the final weights, how many updates (5) were made, and
    whether every example is classified correctly by ω.
    """

    def keep_going(state):
        _, updates, done = state
        return jnp.logical_and(jnp.logical_not(done), updates < max_iterations)

    def iteration(state):
        w, updates, _ = state
        wrong = misclassified(w, x, y)
        found = jnp.any(wrong)
        i = jnp.argmax(wrong)  # the first misclassified example (0 when there is none: unused)
        w = jnp.where(found, w + y[i] * x[i], w)  # (5)
        return w, updates + found.astype(jnp.int32), jnp.logical_not(found)

    w0 = jnp.zeros(x.shape[1], x.dtype)
    w, updates, _ = jax.lax.while_loop(keep_going, iteration, (w0, jnp.int32(0), jnp.bool_(False)))
    return w, updates, jnp.logical_not(jnp.any(misclassified(w, x, y)))


class Perceptron:
    """The perceptron as an estimator: `fit` runs Rosenblatt's rule, `predict_scores` gives <ω, x>."""

    def __init__(self, max_iterations: int = 1000):
        self.max_iterations = max_iterations
        self.w: np.ndarray | None = None
        self.updates = 0
        self.converged = False
        self.train_error = float("nan")

    def fit(self, data: Dataset) -> Perceptron:
        return self.fit_arrays(data.x_train, data.y_train)

    def fit_arrays(self, x, labels) -> Perceptron:
        """Fit on inputs and 0/1 labels (or -1/+1 labels)."""
        x = with_bias(x)
        labels = np.asarray(labels)
        y = np.where(labels > 0, 1.0, -1.0).astype(np.float32)
        w, updates, converged = rosenblatt(jnp.asarray(x), jnp.asarray(y), jnp.int32(self.max_iterations))
        self.w = np.asarray(w)
        self.updates, self.converged = int(updates), bool(converged)
        self.train_error = float(np.mean(np.asarray(predict_sign(self.w, x)) != y))
        return self

    def decision(self, x) -> np.ndarray:
        """<ω, x> including the bias: the perceptron says +1 where it is >= 0."""
        return with_bias(x) @ self.w

    def predict_scores(self, x) -> np.ndarray:
        """One column of scores for the binary task, whose metrics read "> 0" as class 1.

        A score of exactly 0 is class +1 by (1); it is reported as the smallest positive float so
        that the shared metrics agree with the perceptron.
        """
        s = self.decision(x).astype(np.float32)
        return np.where(s == 0, np.finfo(np.float32).tiny, s)[:, None]

    def num_params(self) -> int:
        return 0 if self.w is None else int(self.w.size)

    def summary_extras(self) -> dict:
        extras = {"converged": self.converged, "updates": self.updates, "train_error": self.train_error}
        if not self.converged:
            extras["note"] = (f"did not converge: {self.train_error:.2%} of the training examples are still "
                              f"misclassified after max_iterations={self.max_iterations} updates (the classes "
                              "may not be linearly separable)")
        return extras


def build_perceptron(spec, info=None) -> Perceptron:
    return Perceptron(spec.max_iterations)


class PerceptronSpec(Strict):
    """Rosenblatt's perceptron (section 2 of the notes), fitted by its own update rule: no epochs."""

    type: Literal["perceptron"]
    max_iterations: int = Field(1000, ge=1, description="stop after this many updates if not converged")


FAMILY = REGISTRY.register(ModelFamily(PerceptronSpec, build_perceptron, frozenset({"binary"}), network=False))
