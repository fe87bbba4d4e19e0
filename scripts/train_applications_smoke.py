"""Train each figure-3 architecture for a few steps through nnx's real training loop (`nnx.train.loop.fit`).

A smoke test that the application models are trainable Flax NNX modules (batch norm in training
mode, gradients, Optax update), on tiny random data at the smallest input Keras allows (32x32x3;
75x75x3 for InceptionV3, 71x71x3 for Xception). It checks that the loss is finite and that
training changed the parameters and the batch-norm statistics; it says nothing about accuracy.

    PYTHONPATH=. python scripts/train_applications_smoke.py [name ...]
"""

from __future__ import annotations

import sys
import time

import jax
import numpy as np
from flax import nnx

from nnx.config import parse_experiment
from nnx.data.base import DataInfo, Dataset
from nnx.models import build
from nnx.train.loop import fit

SIZES = {"inception_v3": 75, "xception": 71}
NAMES = ["vgg16", "vgg19", "resnet50", "resnet101", "resnet152", "resnet50v2", "resnet101v2", "resnet152v2",
         "inception_v3", "xception"]


def tiny_dataset(size: int, n: int = 16, classes: int = 10) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, size, size, 3)).astype(np.float32)
    y = rng.integers(0, classes, n).astype(np.int32)
    info = DataInfo((size, size, 3), "classification", classes)
    return Dataset("random", info, x, y, x[:0], y[:0], x[:8], y[:8])


def check(name: str) -> dict:
    data = tiny_dataset(SIZES.get(name, 32))
    spec = parse_experiment(f"data: {{name: digits, validation_split: 0}}\nmodel: {{type: {name}}}\n"
                            "training: {epochs: 1, batch_size: 8, optimizer: {name: adam, learning_rate: 0.001}}\n"
                            ).runs[0]
    t0 = time.perf_counter()
    model = build(spec.model, data.info, nnx.Rngs(0))
    before = jax.tree.map(np.asarray, nnx.state(model))
    result = fit(model, data, spec)
    after = jax.tree.map(np.asarray, nnx.state(result.model))
    changed = {kind: any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(nnx.state(before, kind)),
                                                                   jax.tree.leaves(nnx.state(after, kind)),
                                                                   strict=True))
               for kind in (nnx.Param, nnx.BatchStat)}
    return {"loss": result.history[-1].train["loss"], "params_changed": changed[nnx.Param],
            "batch_stats_changed": changed[nnx.BatchStat], "seconds": time.perf_counter() - t0}


def main(names: list[str]) -> int:
    bad = 0
    for name in names or NAMES:
        r = check(name)
        ok = np.isfinite(r["loss"]) and r["params_changed"] and (r["batch_stats_changed"] or name.startswith("vgg"))
        bad += not ok
        print(f"{name:<13} loss {r['loss']:.3f}  params changed {r['params_changed']}  "
              f"batch stats changed {r['batch_stats_changed']}  {r['seconds']:.1f}s  {'ok' if ok else 'FAILED'}",
              flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
