"""Benchmark nnx's trainer against a plain PyTorch reference on the MNIST MLP, side by side.

    NNX_DATA_DIR=../shared/data python scripts/bench.py [--rounds 5] [--block 3] [--full] [--json bench.json]

Both sides train the notes' network (784-256-128-10, ReLU, dropout 0.4/0.3, RMSprop lr 0.001,
batch 128) on the full 60,000 training images. Each round measures the FLOP floor (a large
float32 matrix product) and then trains each side for a few consecutive epochs, as `nnx train`
runs them (an epoch right after the other side's pays for the other's threads and caches). The
ratios are taken within each round, so the machine's drift hits both terms alike, and their
medians are reported. nnx is timed through its own training core (the compiled epoch that
`nnx train` runs: `nnx.train.loop.make_core` + `compile_epoch`), not a separate model.
PyTorch is optional (`pip install torch==2.13.0`); without it only nnx's numbers are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HIDDEN, DROPOUT, LR, BATCH = (256, 128), (0.4, 0.3), 1e-3, 128


def flops_per_epoch(n: int) -> float:
    """Forward multiply-adds x 2 FLOPs, x 3 for forward + backward, for every training image."""
    sizes = [784, *HIDDEN, 10]
    per_sample = sum(2 * a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return 3.0 * per_sample * n


class MatmulMeter:
    """The CPU's float32 matrix-product speed, from a large product compiled once."""

    def __init__(self, size: int = 2048):
        import jax
        import jax.numpy as jnp

        self.size = size
        self.a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
        self.b = jax.random.normal(jax.random.key(1), (size, size), jnp.float32)
        self.matmul = jax.jit(jnp.dot)
        self.matmul(self.a, self.b).block_until_ready()

    def gflops(self, repeats: int = 5) -> float:
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            self.matmul(self.a, self.b).block_until_ready()
            times.append(time.perf_counter() - t)
        return 2 * self.size**3 / min(times) / 1e9


class NnxSide:
    """nnx's own training core, compiled once, one call per epoch."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        import jax
        import jax.numpy as jnp
        from flax import nnx

        from nnx.config import parse_experiment
        from nnx.data.base import DataInfo
        from nnx.models import build
        from nnx.train import tasks
        from nnx.train.loop import compile_epoch, make_core

        spec = parse_experiment((ROOT / "experiments" / "mnist_mlp.yaml").read_text()).runs[0]
        model = build(spec.model, DataInfo((28, 28, 1), "classification", 10), nnx.Rngs(0))
        steps = -(-len(x) // BATCH)
        core, self.state = make_core(model, tasks.CLASSIFICATION, spec.training, spec.regularization, steps)
        self.epoch_fn = compile_epoch(core, len(x))
        self.x, self.y = jnp.asarray(x), jnp.asarray(y)
        self.key, self.jax = jax.random.key(0), jax
        t = time.perf_counter()
        self.epoch(0)
        self.first_epoch_seconds = time.perf_counter() - t

    def epoch(self, i: int) -> float:
        t = time.perf_counter()
        self.state, sums = self.epoch_fn(self.state, self.x, self.y, self.jax.random.fold_in(self.key, i))
        float(sums["loss"])  # the one host sync per epoch that `nnx train` also makes
        return time.perf_counter() - t


class TorchSide:
    """The same network and optimizer in plain PyTorch eager, 2 threads."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        import torch

        torch.set_num_threads(os.cpu_count() or 2)
        torch.manual_seed(0)
        self.torch = torch
        self.x = torch.from_numpy(x.reshape(len(x), -1))
        self.y = torch.from_numpy(y.astype(np.int64))
        layers, sizes = [], [784, *HIDDEN]
        for (a, b), p in zip(zip(sizes[:-1], sizes[1:]), DROPOUT):
            layers += [torch.nn.Linear(a, b), torch.nn.ReLU(), torch.nn.Dropout(p)]
        self.model = torch.nn.Sequential(*layers, torch.nn.Linear(sizes[-1], 10))
        self.opt = torch.optim.RMSprop(self.model.parameters(), lr=LR, alpha=0.9, eps=1e-7)
        self.loss = torch.nn.CrossEntropyLoss()
        self.epoch(0)  # warm-up, as the compile on the other side

    def epoch(self, i: int) -> float:
        torch = self.torch
        t = time.perf_counter()
        self.model.train()
        order = torch.randperm(len(self.x))
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss(self.model(self.x[idx]), self.y[idx])
            loss.backward()
            self.opt.step()
        loss.item()
        return time.perf_counter() - t


def command_seconds(args: list[str], repeats: int, env: dict | None = None) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True, cwd=ROOT, env=env)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def with_compilation_cache(setting: str) -> dict:
    """The environment for an `nnx train` subprocess: NNX_COMPILATION_CACHE=off, or a folder."""
    return {**os.environ, "NNX_COMPILATION_CACHE": setting}


def first_epoch_of_nnx_train(tmp: Path, env: dict) -> dict:
    """Wall time of `nnx train` from launch to its first finished epoch (metrics line written)."""
    out = Path(tempfile.mkdtemp(dir=tmp))
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "nnx", "train", "experiments/mnist_mlp.yaml", "-q",
                             "-o", str(out), "--set", "training.epochs=2"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = None
    while proc.poll() is None:
        lines = [p for p in out.glob("*/*/metrics.jsonl") if p.stat().st_size > 0]
        if lines and first is None:
            first = time.perf_counter() - t
        time.sleep(0.01)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.read().decode())
    return {"launch_to_first_epoch_s": first, "two_epochs_total_s": time.perf_counter() - t}


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=positive, default=5, help="rounds; each side trains --block epochs a round")
    parser.add_argument("--block", type=positive, default=3, help="consecutive epochs per side and round")
    parser.add_argument("--full", action="store_true", help="also time `nnx train experiments/mnist_mlp.yaml` (30 epochs)")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    args = parser.parse_args()

    from nnx import data
    from nnx.data.idx import IdxSpec as ImageDataSpec

    dataset = data.load(ImageDataSpec(name="mnist", validation_split=0.0), seed=0)
    x, y = dataset.x_train, dataset.y_train
    n = len(x)

    results: dict = {"samples_per_epoch": n, "batch_size": BATCH, "gflop_per_epoch": flops_per_epoch(n) / 1e9}
    meter = MatmulMeter()
    sides = {"nnx": NnxSide(x, y)}
    results["nnx_first_epoch_s"] = sides["nnx"].first_epoch_seconds
    try:
        sides["torch"] = TorchSide(x, y)
    except ImportError:
        print("torch is not installed: timing nnx alone (pip install torch==2.13.0)", file=sys.stderr)
    # Each round measures the floor and both sides back to back, and the ratios are taken within
    # a round: this shared machine's speed drifts by 20% and more over a run.
    rounds, epoch = [], 0
    for _ in range(args.rounds):
        peak = meter.gflops()
        this = {"peak_gflops": peak, "flop_floor_s": flops_per_epoch(n) / (peak * 1e9)}
        for name, side in sides.items():
            this[name] = []
            for _ in range(args.block):
                epoch += 1
                this[name].append(side.epoch(epoch))
        rounds.append(this)
    median_of = lambda f: statistics.median(f(r) for r in rounds)  # noqa: E731
    for name in sides:
        med = statistics.median(t for r in rounds for t in r[name])
        results[name] = {"s_per_epoch": med, "samples_per_s": n / med}
    results["peak_gflops"] = median_of(lambda r: r["peak_gflops"])
    results["flop_floor_s"] = median_of(lambda r: r["flop_floor_s"])
    if "torch" in sides:
        results["speedup_vs_torch"] = median_of(lambda r: statistics.median(r["torch"]) / statistics.median(r["nnx"]))
    results["fraction_of_floor"] = median_of(lambda r: r["flop_floor_s"] / statistics.median(r["nnx"]))
    results["rounds"] = rounds

    results["nnx_help_s"] = command_seconds([sys.executable, "-m", "nnx", "--help"], 5)
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as cache:
        tmp = Path(tmp)
        # Cold: no compilation cache. Warm: the second of two runs sharing a fresh cache folder.
        results.update(first_epoch_of_nnx_train(tmp, with_compilation_cache("off")))
        first_epoch_of_nnx_train(tmp, with_compilation_cache(cache))
        results["launch_to_first_epoch_warm_cache_s"] = first_epoch_of_nnx_train(
            tmp, with_compilation_cache(cache))["launch_to_first_epoch_s"]
        if args.full:  # compiled from scratch, as on a first run
            results["mnist_mlp_30_epochs_wall_s"] = command_seconds(
                [sys.executable, "-m", "nnx", "train", "experiments/mnist_mlp.yaml", "-q", "-o", str(tmp)], 1,
                with_compilation_cache("off"))

    print(f"{'':28s}{'s/epoch':>10s}{'samples/s':>12s}")
    for name in sides:
        print(f"{name:28s}{results[name]['s_per_epoch']:10.3f}{results[name]['samples_per_s']:12,.0f}")
    print(f"{'FLOP floor':28s}{results['flop_floor_s']:10.3f}   ({results['gflop_per_epoch']:.1f} GFLOP "
          f"at {results['peak_gflops']:.0f} GFLOP/s)")
    nnx_s = results["nnx"]["s_per_epoch"]
    print(f"(medians of all epochs, {args.rounds} rounds of {args.block} epochs a side; the ratios below are medians "
          "of each round's ratio, with the ratios of the medians above in brackets)")
    if "speedup_vs_torch" in results:
        print(f"nnx vs PyTorch eager: {results['speedup_vs_torch']:.2f}x the samples per second "
              f"({results['torch']['s_per_epoch'] / nnx_s:.2f}x)")
    print(f"nnx at {results['fraction_of_floor']:.0%} of the FLOP floor ({results['flop_floor_s'] / nnx_s:.0%})")
    print(f"nnx --help: {results['nnx_help_s']:.2f} s; nnx train launch to first epoch: "
          f"{results['launch_to_first_epoch_s']:.2f} s ({results['launch_to_first_epoch_warm_cache_s']:.2f} s "
          "with the compiled programs cached)")
    if args.full:
        print(f"nnx train experiments/mnist_mlp.yaml (30 epochs, nothing cached): {results['mnist_mlp_30_epochs_wall_s']:.1f} s")
    print(json.dumps(results, indent=None, default=float))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
