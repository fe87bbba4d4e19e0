"""Compare nnx's parameter counts of the ten figure-3 architectures with Keras's own.

Keras is NOT a dependency of nnx; this script is the reference the test numbers came from.
It needs Keras 3 with the JAX backend (no TensorFlow) and builds every application with
`weights=None`, so nothing is downloaded:

    python -m venv --system-site-packages /tmp/kvenv && /tmp/kvenv/bin/pip install keras
    KERAS_BACKEND=jax PYTHONPATH=. /tmp/kvenv/bin/python scripts/keras_counts.py

It prints, for each model, Keras's total / trainable / non-trainable (`model.count_params()`
and the sizes of `trainable_weights` / `non_trainable_weights`) next to nnx's, and exits 1 on
any difference. With --json it prints the Keras numbers only (as recorded in tests/test_params.py).
"""

from __future__ import annotations

import json
import math
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

KERAS_APPS = {
    "vgg16": "VGG16", "vgg19": "VGG19", "resnet50": "ResNet50", "resnet101": "ResNet101",
    "resnet152": "ResNet152", "resnet50v2": "ResNet50V2", "resnet101v2": "ResNet101V2",
    "resnet152v2": "ResNet152V2", "inception_v3": "InceptionV3", "xception": "Xception",
}


def keras_counts(name: str) -> dict:
    import keras

    model = getattr(keras.applications, KERAS_APPS[name])(weights=None)  # include_top=True, 1000 classes
    size = lambda weights: sum(math.prod(w.shape) for w in weights)  # noqa: E731
    counts = {"total": model.count_params(), "trainable": size(model.trainable_weights),
              "non_trainable": size(model.non_trainable_weights)}
    keras.backend.clear_session()
    return counts


def nnx_counts(name: str) -> dict:
    from nnx import params

    summary = params.count(params.resolve(name))
    return {"total": summary.total, "trainable": summary.trainable, "non_trainable": summary.non_trainable}


def main() -> int:
    try:
        import keras
    except ImportError:
        print("keras is not installed; see this script's docstring", file=sys.stderr)
        return 2
    if "--json" in sys.argv:
        print(json.dumps({name: keras_counts(name) for name in KERAS_APPS}, indent=1))
        return 0
    print(f"Keras {keras.__version__} (backend {keras.backend.backend()})")
    print(f"{'model':<13} {'keras total':>12} {'trainable':>12} {'non-train.':>10}   {'nnx total':>12} "
          f"{'trainable':>12} {'non-train.':>10}  same")
    bad = 0
    for name in KERAS_APPS:
        k, n = keras_counts(name), nnx_counts(name)
        same = k == n
        bad += not same
        print(f"{name:<13} {k['total']:>12,} {k['trainable']:>12,} {k['non_trainable']:>10,}   "
              f"{n['total']:>12,} {n['trainable']:>12,} {n['non_trainable']:>10,}  {'yes' if same else 'NO'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
