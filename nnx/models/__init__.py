"""The model registry: one builder per `model.type`, the same for `train` and `count-params`.

Networks are Flax NNX modules called as `model(x, train=..., rngs=...)` and trained by
`nnx.train`. Estimators are closed-form (scikit-learn) models with `fit(dataset)` and
`predict_scores(x)`; the runner gives them the same run folder and summary.
"""

from __future__ import annotations

import importlib

from .specs import ModelSpec

# type -> "module:builder". Network builders take (spec, DataInfo, nnx.Rngs).
NETWORKS = {
    "mlp": "nnx.models.mlp:build_mlp",
    "logistic": "nnx.models.mlp:build_logistic",
    "cnn": "nnx.models.cnn:build_cnn",
}
# type -> "module:builder". Estimator builders take (spec, DataInfo).
ESTIMATORS = {
    "lda": "nnx.models.classical:build_lda",
}


def _resolve(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def is_network(spec) -> bool:
    return spec.type in NETWORKS


def build(spec, info, rngs=None):
    """Build the model a spec describes: a Flax NNX module, or an estimator."""
    if spec.type in NETWORKS:
        from flax import nnx

        return _resolve(NETWORKS[spec.type])(spec, info, rngs if rngs is not None else nnx.Rngs(0))
    return _resolve(ESTIMATORS[spec.type])(spec, info)


def names() -> list[str]:
    return sorted({*NETWORKS, *ESTIMATORS})


__all__ = ["ESTIMATORS", "NETWORKS", "ModelSpec", "build", "is_network", "names"]
