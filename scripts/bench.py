"""Benchmark nnx's trainer against a plain PyTorch reference on the MNIST MLP, side by side.

    NNX_DATA_DIR=../shared/data python scripts/bench.py [--rounds 5] [--full] [--json bench.json]

Both sides train the notes' network (784-256-128-10, ReLU, dropout 0.4/0.3, RMSprop lr 0.001,
batch 128) on the full 60,000 training images. The two sides take turns, a few consecutive epochs
each (as `nnx train` runs them: a side's epoch right after the other side's pays for the other's
threads and caches), so machine noise hits both alike; medians of all epochs are reported. The FLOP floor is measured in the same run from
a large float32 matrix product. nnx is timed through its own training core (the compiled epoch
that `nnx train` runs: `nnx.train.loop.make_core` + `compile_epoch`), not a separate model.
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


def measure_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (size, size), jnp.float32)
    matmul = jax.jit(jnp.dot)
    matmul(a, b).block_until_ready()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        matmul(a, b).block_until_ready()
        times.append(time.perf_counter() - t)
    return 2 * size**3 / min(times) / 1e9


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="rounds; each side trains --block epochs a round")
    parser.add_argument("--block", type=int, default=3, help="consecutive epochs per side and round")
    parser.add_argument("--full", action="store_true", help="also time `nnx train experiments/mnist_mlp.yaml` (30 epochs)")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    args = parser.parse_args()

    from nnx import data
    from nnx.data.specs import ImageDataSpec

    dataset = data.load(ImageDataSpec(name="mnist", validation_split=0.0), seed=0)
    x, y = dataset.x_train, dataset.y_train
    n = len(x)

    results: dict = {"samples_per_epoch": n, "batch_size": BATCH}
    peak = measure_peak_gflops()
    floor = flops_per_epoch(n) / (peak * 1e9)
    results.update(peak_gflops=peak, flop_floor_s=floor, gflop_per_epoch=flops_per_epoch(n) / 1e9)

    sides = {"nnx": NnxSide(x, y)}
    results["nnx_first_epoch_s"] = sides["nnx"].first_epoch_seconds
    try:
        sides["torch"] = TorchSide(x, y)
    except ImportError:
        print("torch is not installed: timing nnx alone (pip install torch==2.13.0)", file=sys.stderr)
    times: dict[str, list[float]] = {name: [] for name in sides}
    epoch = 0
    for _ in range(args.rounds):
        for name, side in sides.items():
            for _ in range(args.block):
                epoch += 1
                times[name].append(side.epoch(epoch))
    for name, ts in times.items():
        med = statistics.median(ts)
        results[name] = {"s_per_epoch": med, "samples_per_s": n / med, "epochs": ts}
    if "torch" in sides:
        results["speedup_vs_torch"] = results["torch"]["s_per_epoch"] / results["nnx"]["s_per_epoch"]
    results["fraction_of_floor"] = floor / results["nnx"]["s_per_epoch"]

    results["nnx_help_s"] = command_seconds([sys.executable, "-m", "nnx", "--help"], 5)
    tmp = ROOT / "outputs" / ".bench"
    tmp.mkdir(parents=True, exist_ok=True)
    # Cold: no compilation cache. Warm: the second of two runs sharing a fresh cache folder.
    results.update(first_epoch_of_nnx_train(tmp, with_compilation_cache("off")))
    with tempfile.TemporaryDirectory() as cache:
        warm_env = with_compilation_cache(cache)
        first_epoch_of_nnx_train(tmp, warm_env)
        results["launch_to_first_epoch_warm_cache_s"] = first_epoch_of_nnx_train(tmp, warm_env)["launch_to_first_epoch_s"]
    if args.full:  # compiled from scratch, as on a first run
        results["mnist_mlp_30_epochs_wall_s"] = command_seconds(
            [sys.executable, "-m", "nnx", "train", "experiments/mnist_mlp.yaml", "-q", "-o", str(tmp)], 1,
            with_compilation_cache("off"))

    print(f"{'':28s}{'s/epoch':>10s}{'samples/s':>12s}")
    for name in times:
        print(f"{name:28s}{results[name]['s_per_epoch']:10.3f}{results[name]['samples_per_s']:12,.0f}")
    print(f"{'FLOP floor':28s}{floor:10.3f}   ({results['gflop_per_epoch']:.1f} GFLOP at {peak:.0f} GFLOP/s)")
    if "speedup_vs_torch" in results:
        print(f"nnx vs PyTorch eager: {results['speedup_vs_torch']:.2f}x the samples per second")
    print(f"nnx at {results['fraction_of_floor']:.0%} of the FLOP floor")
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
