"""Choose the Hitters network's learning rate and epochs by K-fold CV on the 175 training players.

The test players are never used: each fold re-standardizes the predictors on its own training
part, trains the network of experiments/hitters.yaml, and records the held-out fold's MAE after
every epoch. The table gives, per learning rate, the epoch count with the lowest mean CV MAE.

    PYTHONPATH=. nice -n 5 python scripts/hitters_cv.py --lrs 0.003,0.01,0.03 --epochs 1000
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.model_selection import KFold

from nnx.config import load_experiment
from nnx.data.base import DataInfo, Dataset
from nnx.data.islp import hitters_design, hitters_split, read_csv, standardize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lrs", default="0.003,0.01,0.03")
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override the experiment file, as `nnx train --set`")
    args = parser.parse_args()

    from flax import nnx

    from nnx import models
    from nnx.train.loop import fit

    rows, _ = read_csv("Hitters.csv")
    x, y = hitters_design(rows)
    x_tr, y_tr, _, _ = hitters_split(x, y, 1 / 3, 1, scale=False)  # the test part is dropped here
    base = next(r for r in load_experiment("experiments/hitters.yaml", args.overrides).runs if r.variant == "network")
    info = DataInfo(input_shape=(x.shape[1],), task="regression")
    print(" ".join(args.overrides) or "(experiment file as is)")
    checkpoints = [e for e in (100, 300, 1000) if e < args.epochs] + [args.epochs]
    print(f"{'lr':>8} {'best epochs':>12} {'CV MAE':>8}   (MAE at {'/'.join(map(str, checkpoints))} epochs)")
    for lr in [float(v) for v in args.lrs.split(",")]:
        spec = base.model_copy(deep=True)
        spec.training.epochs, spec.training.batch_size = args.epochs, args.batch_size
        spec.training.optimizer.learning_rate = lr
        curves = []
        for seed in range(args.seeds):
            folds = KFold(args.folds, shuffle=True, random_state=seed)
            for inner, held in folds.split(x_tr):
                a, b = standardize(x_tr[inner], x_tr[held])
                f32 = lambda v: np.asarray(v, np.float32)  # noqa: E731
                data = Dataset("hitters-cv", info, f32(a), f32(y_tr[inner]), f32(b), f32(y_tr[held]),
                               f32(b), f32(y_tr[held]))
                model = models.build(spec.model, info, nnx.Rngs(seed))
                result = fit(model, data, spec.model_copy(update={"seed": seed}))
                curves.append([r.validation["mae"] for r in result.history])
        mean = np.mean(curves, axis=0)
        at = "/".join(f"{mean[e - 1]:.1f}" for e in checkpoints)
        print(f"{lr:>8g} {int(np.argmin(mean)) + 1:>12d} {mean.min():>8.1f}   ({at})", flush=True)


if __name__ == "__main__":
    main()
