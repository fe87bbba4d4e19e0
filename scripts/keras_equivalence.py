"""Check that nnx's figure-3 architectures compute what Keras's applications compute.

Builds each Keras application (`weights=None`, `classifier_activation=None`, a small input) and
the nnx module of the same shape, gives the Keras layers random weights (and random batch-norm
statistics), copies them into the nnx module by Keras layer name with nnx's own layer map (the one
that reads Keras' weight files, nnx/models/applications/weights.py; shapes checked, every weight
used exactly once), and compares the logits on a random batch in inference mode.
Like scripts/keras_counts.py it needs Keras 3 with the JAX backend (see that script's docstring);
Keras is not a dependency of nnx.

    KERAS_BACKEND=jax PYTHONPATH=. /tmp/kvenv/bin/python scripts/keras_equivalence.py [name ...]
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402

SIZES = {"vgg16": 32, "vgg19": 32, "inception_v3": 75, "xception": 71}  # others: 64x64


def keras_model(name: str, size: int):
    import keras

    from scripts.keras_counts import KERAS_APPS

    return getattr(keras.applications, KERAS_APPS[name])(weights=None, input_shape=(size, size, 3), classes=7,
                                                         classifier_activation=None)


def randomize(model, rng) -> None:
    """Random weights of a sensible scale, and random batch-norm statistics (variance in [0.5, 1.5])."""
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        new = []
        for w, var in zip(weights, layer.weights, strict=True):
            if "variance" in var.path:
                new.append(rng.uniform(0.5, 1.5, w.shape).astype(w.dtype))
            else:
                scale = 1.0 / np.sqrt(max(1, np.prod(w.shape[:-1]))) if w.ndim > 1 else 0.1
                new.append((rng.normal(size=w.shape) * scale).astype(w.dtype))
        layer.set_weights(new)


def copy_weights(name: str, kmodel, model) -> int:
    """Copy the Keras layers into the nnx module by nnx's own Keras layer map (the one that reads
    weight files: nnx.models.applications.weights), every shape checked, every weight used once."""
    from nnx.models.applications.weights import assign

    layers = {layer.name: [(v.path, np.asarray(v.numpy())) for v in layer.weights] for layer in kmodel.layers}
    assign(name, model, layers, f"Keras {name}")
    return sum(1 for ws in layers.values() if ws)


def check(name: str) -> float:
    from flax import nnx

    from nnx.data.base import DataInfo
    from nnx.models import build
    from nnx.params import _model_spec

    size = SIZES.get(name, 64)
    rng = np.random.default_rng(0)
    kmodel = keras_model(name, size)
    randomize(kmodel, rng)
    model = build(_model_spec({"type": name}), DataInfo((size, size, 3), "classification", 7), nnx.Rngs(0))
    copied = copy_weights(name, kmodel, model)
    x = rng.normal(size=(2, size, size, 3)).astype(np.float32)
    expected = np.asarray(kmodel(x, training=False))
    got = np.asarray(model(x, train=False))
    err = float(np.max(np.abs(got - expected)) / (np.max(np.abs(expected)) + 1e-12))
    print(f"{name:<13} {size}x{size}x3  {copied} Keras layers copied  max relative difference {err:.2e}",
          flush=True)
    return err


def main(names: list[str]) -> int:
    from scripts.keras_counts import KERAS_APPS

    worst = max(check(n) for n in (names or list(KERAS_APPS)))
    return 0 if worst < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
