"""Check that nnx's figure-3 architectures compute what Keras's applications compute.

Builds each Keras application (`weights=None`, `classifier_activation=None`, a small input) and
the nnx module of the same shape, gives the Keras layers random weights (and random batch-norm
statistics), copies them into the nnx module layer by layer (Keras layer order against nnx's call
order, shapes checked at every step), and compares the logits on a random batch in inference mode.
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


def nnx_leaves(model, size: int) -> list:
    """The nnx Conv / BatchNorm / Linear modules in the order the forward pass calls them."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from nnx.params import _recording

    calls: list = []
    classes = {type(m) for _, m in nnx.iter_modules(model)}
    with _recording(classes, calls):
        jax.eval_shape(lambda x: model(x), jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32))
    seen, out = set(), []
    for module, _, _ in calls:
        if isinstance(module, (nnx.Conv, nnx.BatchNorm, nnx.Linear)) and id(module) not in seen:
            seen.add(id(module))
            out.append(module)
    return out


def creation_order(layers) -> list:
    """Keras's layers in the order its code created them, where their automatic names tell it.

    InceptionV3 names its layers conv2d, conv2d_1, ... and batch_normalization, ..._1, in code
    order, while `model.layers` is a topological order that interleaves parallel branches whose
    convolutions have equal shapes. Layers with explicit names keep `model.layers` order.
    """
    import re

    auto = re.compile(r"^(conv2d|batch_normalization)(?:_(\d+))?$")
    keyed = []
    for i, layer in enumerate(layers):
        match = auto.match(layer.name)
        keyed.append((int(match.group(2) or 0) if match else i, i, layer))
    if not all(auto.match(layer.name) or not layer.weights or type(layer).__name__ == "Dense"
               for layer in layers):
        return list(layers)
    return [layer for *_, layer in sorted(keyed, key=lambda t: (t[0] if auto.match(t[2].name) else 10**9, t[1]))]


def copy_weights(kmodel, leaves) -> int:
    """Pair each Keras layer with the first unused nnx layer of the same kind and shapes, in order.

    Keras lists a block's layers in its own topological order (ResNet: 1_conv before the 0_conv
    shortcut), so pairing looks ahead for the first match of kind and shapes; a wrong pairing of two
    layers of equal shapes would show up as different outputs.
    """
    from flax import nnx

    pending = list(leaves)
    copied = 0

    def take(kind, shapes: dict):
        for i, m in enumerate(pending):
            if isinstance(m, kind) and all(getattr(m, k) is not None and getattr(m, k).shape == v
                                           for k, v in shapes.items()):
                return pending.pop(i)
        raise AssertionError(f"no nnx {kind.__name__} with shapes {shapes}")

    def put(variable, value):
        assert variable is not None and variable.shape == value.shape
        variable[...] = value

    for layer in creation_order(kmodel.layers):
        kind = type(layer).__name__
        w = {v.path.split("/")[-1]: np.asarray(v.numpy()) for v in layer.weights}
        if not w:
            continue
        if kind == "SeparableConv2D":
            depthwise = np.transpose(w["depthwise_kernel"], (0, 1, 3, 2))
            put(take(nnx.Conv, {"kernel": depthwise.shape}).kernel, depthwise)
            put(take(nnx.Conv, {"kernel": w["pointwise_kernel"].shape}).kernel, w["pointwise_kernel"])
            assert "bias" not in w
        elif kind in ("Conv2D", "Dense"):
            m = take(nnx.Conv if kind == "Conv2D" else nnx.Linear, {"kernel": w["kernel"].shape})
            put(m.kernel, w["kernel"])
            assert ("bias" in w) == (m.bias is not None), layer.name
            if "bias" in w:
                put(m.bias, w["bias"])
        elif kind == "BatchNormalization":
            m = take(nnx.BatchNorm, {"mean": w["moving_mean"].shape})
            assert abs(m.epsilon - layer.epsilon) < 1e-12, (layer.name, m.epsilon, layer.epsilon)
            assert ("gamma" in w) == (m.scale is not None), layer.name
            if "gamma" in w:
                put(m.scale, w["gamma"])
            put(m.bias, w["beta"])
            put(m.mean, w["moving_mean"])
            put(m.var, w["moving_variance"])
        else:
            raise AssertionError(f"unhandled Keras layer {layer.name} ({kind})")
        copied += 1
    assert not pending, f"nnx has {len(pending)} layers more than Keras"
    return copied


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
    copied = copy_weights(kmodel, nnx_leaves(model, size))
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
