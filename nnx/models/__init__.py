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
    "bow_mlp": "nnx.models.text:build_bow_mlp",
    "rnn": "nnx.models.rnn:build_rnn",
    # The ImageNet architectures of figure 3 (Keras applications, include_top=True).
    "vgg16": "nnx.models.applications.vgg:build_vgg",
    "vgg19": "nnx.models.applications.vgg:build_vgg",
    "resnet50": "nnx.models.applications.resnet:build_resnet",
    "resnet101": "nnx.models.applications.resnet:build_resnet",
    "resnet152": "nnx.models.applications.resnet:build_resnet",
    "resnet50v2": "nnx.models.applications.resnet:build_resnet",
    "resnet101v2": "nnx.models.applications.resnet:build_resnet",
    "resnet152v2": "nnx.models.applications.resnet:build_resnet",
    "inception_v3": "nnx.models.applications.inception_v3:build_inception_v3",
    "xception": "nnx.models.applications.xception:build_xception",
    "cnn": "nnx.models.cnn:build_cnn",
}
# type -> "module:builder". Estimator builders take (spec, DataInfo).
ESTIMATORS = {
    "lda": "nnx.models.classical:build_lda",
    "perceptron": "nnx.models.perceptron:build_perceptron",
    "linear_regression": "nnx.models.regression:build_linear_regression",
    "lasso_cv": "nnx.models.regression:build_lasso_cv",
    "logistic_sparse": "nnx.models.text:build_logistic_sparse",
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

        rngs = rngs if rngs is not None else nnx.Rngs(0)
        model = _resolve(NETWORKS[spec.type])(spec, info, rngs)
        if getattr(spec, "init", "default") == "pytorch":
            from .init import pytorch_init

            pytorch_init(model, rngs)
        return model
    return _resolve(ESTIMATORS[spec.type])(spec, info)


def names() -> list[str]:
    return sorted({*NETWORKS, *ESTIMATORS})


__all__ = ["ESTIMATORS", "NETWORKS", "ModelSpec", "build", "is_network", "names"]
