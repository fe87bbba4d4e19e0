"""The figure-3 architectures as Flax NNX modules: Keras's layer options, and trainability."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from flax import nnx

from nnx.config import parse_experiment
from nnx.data.base import DataInfo, Dataset
from nnx.errors import ConfigError
from nnx.models import build
from nnx.models.applications.layers import ConvBN
from nnx.train.loop import fit


def abstract(name: str, shape=None, classes=None):
    spec = parse_experiment(f"data: {{name: digits}}\nmodel: {{type: {name}}}\n").runs[0].model
    info = DataInfo(shape or spec.default_input_shape, "classification", classes)
    return nnx.eval_shape(lambda: build(spec, info, nnx.Rngs(0)))


def test_classes_and_input_shape_change_the_model():
    model = abstract("vgg16", shape=(32, 32, 3), classes=10)
    assert model.fc1.kernel.shape == (512, 4096) and model.predictions.kernel.shape == (4096, 10)
    with pytest.raises(ConfigError, match="at least 75x75"):
        abstract("inception_v3", shape=(64, 64, 3))


def test_batch_norm_trains_through_the_training_loop():
    # The smallest network with Keras-style conv + batch norm, trained by nnx's own loop: batch norm
    # statistics must update inside the compiled, differentiated step.
    class Tiny(nnx.Module):
        def __init__(self, rngs):
            self.unit = ConvBN(1, 4, 3, padding="SAME", rngs=rngs)
            self.out = nnx.Linear(4, 3, rngs=rngs)

        def __call__(self, x, *, train=False, rngs=None):
            return self.out(self.unit(x, train).mean(axis=(1, 2)))

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 3, 32).astype(np.int32)
    data = Dataset("tiny", DataInfo((6, 6, 1), "classification", 3), x, y, x[:0], y[:0], x[:8], y[:8])
    spec = parse_experiment("data: {name: digits, validation_split: 0}\nmodel: {type: mlp}\n"
                            "training: {epochs: 2, batch_size: 8, optimizer: adam}\n").runs[0]
    model = Tiny(nnx.Rngs(0))
    mean_before = np.asarray(model.unit.bn.mean[...])
    result = fit(model, data, spec)
    assert np.isfinite(result.history[-1].train["loss"])
    assert not np.allclose(np.asarray(result.model.unit.bn.mean[...]), mean_before)
    assert jax.tree.leaves(nnx.state(result.model, nnx.BatchStat))
