"""A vectorized sweep against the same runs one after another: 16 settings of the MNIST MLP.

The network, optimizer and data are experiments/mnist_mlp.yaml's (784-256-128-10, dropout 0.4 and
0.3, RMSprop, batches of 128, 20% held out), swept over 4 learning rates x 4 l2 weights, as
`nnx train experiments/mnist_mlp.yaml --sweep ... --set sweep.vectorize=true` trains them. Both
sides call `nnx.train.loop.fit_all`, the function `nnx train` calls: vectorized, once with the 16
runs (one compiled program, a leading axis of 16); one by one, 16 times with one run each (each
compiles its own program: its learning rate and l2 are constants of it). Rounds alternate the two
sides, and the ratio of each round's times is reported, so the load of a shared machine falls on
both sides alike. Times are whole fits (compilation, every epoch, validation and test
evaluation), plus the steady epoch (the last epoch's time per run).

    NNX_DATA_DIR=/work/shared/data python3 scripts/bench_sweep.py [--epochs 2] [--rounds 2] [--train-subset N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEARNING_RATES = ["3e-4", "1e-3", "3e-3", "1e-2"]
L2 = ["1e-5", "1e-4", "1e-3", "1e-2"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--train-subset", type=int, default=None, help="training examples (default: all 60,000)")
    args = parser.parse_args()

    import jax

    from nnx import data, models
    from nnx.config import load_experiment
    from nnx.train.loop import Trainee, fit_all

    sets = [f"training.epochs={args.epochs}"]
    if args.train_subset:
        sets.append(f"data.train_subset={args.train_subset}")
    experiment = load_experiment(ROOT / "experiments" / "mnist_mlp.yaml", overrides=sets,
                                 sweeps=[f"training.optimizer.learning_rate={','.join(LEARNING_RATES)}",
                                         f"regularization.l2={','.join(L2)}", ])
    specs = experiment.runs
    assert len(specs) == 16, len(specs)
    dataset = data.load(specs[0].data, seed=specs[0].seed)

    def trainees():
        return [Trainee(models.make(s.model, dataset.info, s.seed).impl, dataset, s) for s in specs]

    def vectorized():
        return fit_all(trainees())

    def one_by_one():
        return [fit_all([t])[0] for t in trainees()]

    print(f"{len(specs)} runs of mnist_mlp ({len(dataset.x_train)} training examples, {args.epochs} epochs) on "
          f"{jax.devices()[0].device_kind}, {args.rounds} alternating rounds")
    ratios, steady = [], []
    for r in range(args.rounds):
        times, results = {}, {}
        for name, side in (("one_by_one", one_by_one), ("vectorized", vectorized))[:: 1 if r % 2 == 0 else -1]:
            t = time.perf_counter()
            results[name] = side()
            times[name] = time.perf_counter() - t
        ratio = times["one_by_one"] / times["vectorized"]
        # The last epoch's seconds per run (a vectorized epoch's time is shared by its runs).
        epoch = {k: sum(res.history[-1].seconds for res in v) for k, v in results.items()}
        ratios.append(ratio)
        steady.append(epoch["one_by_one"] / epoch["vectorized"])
        # Rounding differs between the two programs (batched matrix products); an unstable learning
        # rate amplifies it, so the agreement is shown per learning rate.
        worst: dict[float, float] = {}
        for spec, a, b in zip(specs, results["vectorized"], results["one_by_one"]):
            lr = spec.training.optimizer.learning_rate
            worst[lr] = max(worst.get(lr, 0.0), abs(a.test["loss"] - b.test["loss"]) / b.test["loss"])
        print(f"round {r + 1}: one by one {times['one_by_one']:.1f} s, vectorized {times['vectorized']:.1f} s: "
              f"{ratio:.2f}x (last epoch, all 16 runs: {epoch['one_by_one']:.1f} s vs {epoch['vectorized']:.1f} s, "
              f"{steady[-1]:.2f}x); largest relative test-loss difference by learning rate: "
              + ", ".join(f"{lr:g}: {d:.1e}" for lr, d in sorted(worst.items())))
    print(f"speed-up, whole fits: median {statistics.median(ratios):.2f}x (rounds: "
          f"{', '.join(f'{x:.2f}' for x in ratios)}); steady epoch: median {statistics.median(steady):.2f}x")


if __name__ == "__main__":
    main()
