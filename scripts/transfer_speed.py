"""How much faster a head-only epoch is with the frozen base's features cached than with the
frozen base run every epoch (model.cache_features true vs false), alternating the two in one run.

    python scripts/transfer_speed.py [--arch resnet50] [--images 256] [--size 32] [--rounds 2]

Each round trains three epochs of each (the same network, data and seed), the cached one first in
odd rounds and second in even ones; an epoch's time is the median of epochs 2 and 3 (the first
compiles). The
one-time cost of the cache (the base run once over every image) is printed beside it. Random
32x32 RGB images; the machine is shared, so the times are noisy: read the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    from nnx import models
    from nnx.config import parse_experiment
    from nnx.data.base import DataInfo, Dataset
    from nnx.train.loop import fit

    rng = np.random.default_rng(0)
    n = args.images
    x = rng.uniform(0, 1, (n, args.size, args.size, 3)).astype(np.float32)
    y = (np.arange(n) % 10).astype(np.int32)
    empty = x[:0], y[:0]
    data = Dataset("random", DataInfo((args.size, args.size, 3), "classification", 10), x, y, *empty, *empty)
    spec = parse_experiment(
        f"data: {{name: digits}}\nmodel: {{type: {args.arch}, include_top: false, trainable: head, "
        "head: {dense: [256], dropout: 0.3}}\ntraining: {epochs: 3, batch_size: 32, eval_batch_size: 128}\n").runs[0]
    cached = models.make(spec.model, data.info, 0)
    uncached = models.make(spec.model.model_copy(update={"cache_features": False}), data.info, 0)
    started = time.perf_counter()
    features = cached.feature_dataset(data, 128)
    cache_seconds = time.perf_counter() - started

    def steady(history):
        return statistics.median(r.seconds for r in history[1:])

    def epoch_cached():
        return steady(fit(cached.impl.head, features, spec).history)

    def epoch_uncached():
        return steady(fit(uncached.impl, data, spec).history)

    times = {"cached": [], "uncached": []}
    for r in range(args.rounds):
        order = [("cached", epoch_cached), ("uncached", epoch_uncached)]
        for name, run in order if r % 2 == 0 else order[::-1]:
            times[name].append(run())
        print(f"round {r + 1}: cached {times['cached'][-1]:.3f} s, uncached {times['uncached'][-1]:.3f} s", flush=True)
    c, u = statistics.median(times["cached"]), statistics.median(times["uncached"])
    print(f"{args.arch} {args.size}x{args.size}, {n} images: a head-only epoch takes {c:.3f} s with cached features, "
          f"{u:.3f} s running the frozen base: {u / c:.0f}x faster; the cache itself cost {cache_seconds:.1f} s once "
          f"(medians over {args.rounds} rounds)")


if __name__ == "__main__":
    main()
