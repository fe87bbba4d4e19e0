"""Benchmark nnx's trainer against PyTorch eager references of the same layers, side by side.

    NNX_DATA_DIR=../shared/data python scripts/bench.py [--model mlp|cnn|lstm|all] [--rounds 5] [--block 3]
        [--examples N] [--torch-python /tmp/tvenv/bin/python] [--full] [--json bench.json]

Models (each nnx side is the network of a shipped experiment file, trained on that file's
training split; the PyTorch side is scripts/bench_torch.py):
- mlp: `mnist_mlp.yaml` (784-256-128-10, ReLU, dropout 0.4/0.3, RMSprop, batch 128), 60,000 images.
- cnn: `mnist_cnn.yaml`'s network without its augmentation (conv 32 -> BN -> ReLU -> max-pool;
  conv 64 -> BN -> ReLU; conv 64 -> BN -> ReLU -> max-pool; dense 128, dropout 0.3; dense 10;
  'same' padding, no conv bias; Adam, batch 128), 54,000 images.
- lstm: `imdb_rnn.yaml`'s LSTM (embedding 32, LSTM 32, the last state, dense 1; RMSprop, batch 128),
  20,000 reviews of 500 words.

Each round measures the FLOP floor (a large float32 matrix product: the model's forward and
backward multiply-adds at that speed) and then trains each side for a few consecutive epochs, as
`nnx train` runs them. The ratios are taken within each round, so the machine's drift hits both
terms alike, and their medians are reported. nnx is timed through its own training core (the
compiled epoch that `nnx train` runs: `nnx.train.loop.make_core` + `compile_epoch`), not a
separate model. PyTorch runs in its own process (`--torch-python`, by default this Python when it
has torch, else /tmp/tvenv/bin/python: `python3 -m venv /tmp/tvenv && /tmp/tvenv/bin/pip install
torch==2.13.0 numpy`), answering one epoch at a time, so the two sides still alternate; without
torch only nnx's numbers are printed. `--examples N` trains on the first N training examples (a
shorter epoch, for a busy machine).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BATCH = 128


@dataclass(frozen=True)
class Bench:
    """One model: the experiment file (and variant) nnx trains, the overrides that make it the
    reference network, and its forward multiply-adds per example."""

    experiment: str
    only: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()


BENCHES = {
    "mlp": Bench("mnist_mlp.yaml", overrides=("data.validation_split=0",)),
    "cnn": Bench("mnist_cnn.yaml", overrides=("training.augmentation=null",)),
    "lstm": Bench("imdb_rnn.yaml", only=("lstm",), overrides=("training.early_stopping=null",)),
}


def forward_flops(spec, info) -> float:
    """Forward FLOPs per example (2 per multiply-add) of the spec's dense, convolutional or
    recurrent layers; element-wise work (activations, batch norm, pooling) is not counted."""
    model = spec.model
    if model.type == "mlp":
        sizes = [math.prod(info.input_shape), *model.hidden, info.outputs]
        return sum(2.0 * a * b for a, b in zip(sizes[:-1], sizes[1:]))
    if model.type == "cnn":
        from nnx.models.cnn import block_shapes

        shapes, total = block_shapes(tuple(info.input_shape), model.blocks), 0.0
        for (h, w, c), block in zip(shapes[:-1], model.blocks):
            for i in range(block.convs):
                if block.padding == "valid":
                    h, w = h - block.kernel_size + 1, w - block.kernel_size + 1
                total += 2.0 * h * w * block.kernel_size ** 2 * (c if i == 0 else block.filters) * block.filters
        sizes = [math.prod(shapes[-1]), *model.dense, info.outputs]
        return total + sum(2.0 * a * b for a, b in zip(sizes[:-1], sizes[1:]))
    if model.type == "rnn":
        gates = {"simple": 1, "gru": 3, "lstm": 4}[model.cell]
        steps, total, width = info.input_shape[0], 0.0, model.embedding
        for _ in range(model.layers):
            total += steps * gates * 2.0 * (width + model.units) * model.units
            width = model.units
        return total + 2.0 * model.units * info.outputs
    raise ValueError(f"no FLOP count for model type {model.type}")


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

    def __init__(self, spec, info, x: np.ndarray, y: np.ndarray, progress: bool = False):
        import jax
        import jax.numpy as jnp
        from flax import nnx

        from nnx.models import build
        from nnx.train import tasks
        from nnx.train.loop import compile_epoch, make_core, steps_per_call

        model = build(spec.model, info, nnx.Rngs(spec.seed))
        training = spec.training.model_copy(update={"batch_size": min(spec.training.batch_size, len(x))})
        steps = -(-len(x) // training.batch_size)
        task = tasks.task_for(info.task, training.loss)
        core, self.state = make_core(model, task, training, spec.regularization, steps)
        # As `nnx train` runs it: in calls only where the bar is shown inside the epoch.
        self.epoch_fn = compile_epoch(core, len(x), steps_per_call=steps_per_call(model, steps) if progress else None)
        self.spec, self.reporter = spec, self.progress_bar(spec) if progress else None
        self.x, self.y = jnp.asarray(x), jnp.asarray(y)
        self.key, self.jax = jax.random.key(0), jax
        t = time.perf_counter()
        self.epoch(0)
        self.first_epoch_seconds = time.perf_counter() - t

    def epoch(self, i: int) -> float:
        t = time.perf_counter()
        on_steps = None
        if self.reporter is not None:
            self.reporter.epoch_started[self.spec.run_name] = t  # as its epoch_ended does between epochs
            on_steps = lambda done, total: self.reporter.steps_done(self.spec, i, done, total)  # noqa: E731
        self.state, sums = self.epoch_fn(self.state, self.x, self.y, self.jax.random.fold_in(self.key, i), on_steps)
        float(sums["loss"])  # the one host sync per epoch that `nnx train` also makes
        return time.perf_counter() - t


    @staticmethod
    def progress_bar(spec):
        """`nnx train`'s own progress bar inside the epoch, drawn on a terminal that is a string."""
        import io

        from rich.console import Console

        from nnx.report import ConsoleReporter

        reporter = ConsoleReporter(console=Console(file=io.StringIO(), force_terminal=True, width=120))
        streams = sys.stdout, sys.stderr
        reporter.run_started(spec, 1, 1, Path("bench"), 0, epochs=10**6)
        sys.stdout, sys.stderr = streams  # Rich's live display took them over; the bench's lines stay ours
        return reporter


class TorchSide:
    """scripts/bench_torch.py in a Python that has torch, one epoch per request."""

    def __init__(self, python: str, model: str, x: np.ndarray, y: np.ndarray, tmp: Path):
        path = tmp / f"{model}.npz"
        np.savez(path, x=x, y=y)
        self.proc = subprocess.Popen([python, str(ROOT / "scripts" / "bench_torch.py"), model, str(path)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"the PyTorch side ({python} scripts/bench_torch.py {model}) did not start")

    def epoch(self, i: int) -> float:
        self.proc.stdin.write("epoch\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def torch_python(given: str | None) -> str | None:
    """The Python that runs the PyTorch side: --torch-python, this one if it has torch, or /tmp/tvenv's."""
    if given:
        return given
    for python in (sys.executable, "/tmp/tvenv/bin/python"):
        if Path(python).exists() and subprocess.run([python, "-c", "import torch, numpy"],
                                                    capture_output=True).returncode == 0:
            return python
    return None


def bench_model(name: str, args, meter: MatmulMeter, python: str | None, tmp: Path) -> dict:
    """Both sides of one model, alternating in rounds; the medians and per-round ratios."""
    from nnx import data
    from nnx.config import load_experiment

    bench = BENCHES[name]
    spec = load_experiment(ROOT / "experiments" / bench.experiment, overrides=bench.overrides,
                           only=bench.only).runs[0]
    dataset = data.load(spec.data, seed=spec.seed)
    x, y = dataset.x_train, dataset.y_train
    if args.examples:
        x, y = x[:args.examples], y[:args.examples]
    n = len(x)
    flops = 3.0 * forward_flops(spec, dataset.info) * n  # forward + backward (2x forward)
    results: dict = {"model": name, "experiment": bench.experiment, "samples_per_epoch": n,
                     "batch_size": spec.training.batch_size, "gflop_per_epoch": flops / 1e9}
    print(f"{name}: compiling nnx's epoch ({n:,} examples)", file=sys.stderr, flush=True)
    sides: dict = {"nnx": NnxSide(spec, dataset.info, x, y)}
    results["nnx_first_epoch_s"] = sides["nnx"].first_epoch_seconds
    if args.progress_cost:  # the same epoch with the bar advancing inside it, as on a terminal
        sides["nnx_progress"] = NnxSide(spec, dataset.info, x, y, progress=True)
    if python:
        print(f"{name}: starting the PyTorch side ({python})", file=sys.stderr, flush=True)
        sides["torch"] = TorchSide(python, name, x, y, tmp)
    # Each round measures the floor and both sides back to back, and the ratios are taken within
    # a round: this shared machine's speed drifts by 20% and more over a run.
    rounds, epoch = [], 0
    for r in range(args.rounds):
        peak = meter.gflops()
        this = {"peak_gflops": peak, "flop_floor_s": flops / (peak * 1e9)}
        for side_name, side in sides.items():
            this[side_name] = []
            for _ in range(args.block):
                epoch += 1
                this[side_name].append(side.epoch(epoch))
        rounds.append(this)
        print(f"{name}: round {r + 1}/{args.rounds}: " + ", ".join(
            f"{s} {statistics.median(this[s]):.3f} s" for s in sides), file=sys.stderr, flush=True)
    if "torch" in sides:
        sides["torch"].close()
    median_of = lambda f: statistics.median(f(r) for r in rounds)  # noqa: E731
    for side_name in sides:
        med = statistics.median(t for r in rounds for t in r[side_name])
        results[side_name] = {"s_per_epoch": med, "samples_per_s": n / med}
    results["peak_gflops"] = median_of(lambda r: r["peak_gflops"])
    results["flop_floor_s"] = median_of(lambda r: r["flop_floor_s"])
    if "torch" in sides:
        results["speedup_vs_torch"] = median_of(lambda r: statistics.median(r["torch"]) / statistics.median(r["nnx"]))
        results["torch_fraction_of_floor"] = median_of(lambda r: r["flop_floor_s"] / statistics.median(r["torch"]))
    results["fraction_of_floor"] = median_of(lambda r: r["flop_floor_s"] / statistics.median(r["nnx"]))
    if "nnx_progress" in sides:
        results["progress_cost"] = median_of(
            lambda r: statistics.median(r["nnx_progress"]) / statistics.median(r["nnx"]) - 1)
    results["rounds"] = rounds
    return results


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
    parser.add_argument("--model", choices=[*BENCHES, "all"], default="mlp", help="which network (default mlp)")
    parser.add_argument("--rounds", type=positive, default=5, help="rounds; each side trains --block epochs a round")
    parser.add_argument("--block", type=positive, default=3, help="consecutive epochs per side and round")
    parser.add_argument("--examples", type=positive, help="train on the first N training examples only")
    parser.add_argument("--torch-python", help="a Python with torch and numpy for the PyTorch side")
    parser.add_argument("--no-torch", action="store_true", help="time nnx alone")
    parser.add_argument("--progress-cost", action="store_true",
                        help="also time nnx with its progress bar advancing inside the epoch")
    parser.add_argument("--full", action="store_true",
                        help="with mlp: also time `nnx train experiments/mnist_mlp.yaml` (30 epochs)")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    args = parser.parse_args()

    python = None if args.no_torch else torch_python(args.torch_python)
    if python is None and not args.no_torch:
        print("no Python with torch found: timing nnx alone (python3 -m venv /tmp/tvenv && "
              "/tmp/tvenv/bin/pip install torch==2.13.0 numpy, or --torch-python)", file=sys.stderr)
    names = list(BENCHES) if args.model == "all" else [args.model]
    meter = MatmulMeter()
    results: dict = {"models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            results["models"][name] = bench_model(name, args, meter, python, Path(tmp))
        if "mlp" in names:
            results["startup"] = startup_times(Path(tmp), args.full)

    print(f"\n{'model':6s}{'examples':>9s}{'nnx s/ep':>10s}{'torch s/ep':>11s}{'nnx ex/s':>10s}{'torch ex/s':>11s}"
          f"{'nnx/torch':>10s}{'floor s':>9s}{'nnx/floor':>10s}{'torch/floor':>12s}")
    for name, r in results["models"].items():
        torch_ = r.get("torch")
        cell = lambda v, f: format(v, f) if v is not None else "-"  # noqa: E731
        print(f"{name:6s}{r['samples_per_epoch']:9,d}{r['nnx']['s_per_epoch']:10.3f}"
              f"{cell(torch_ and torch_['s_per_epoch'], '11.3f'):>11s}{r['nnx']['samples_per_s']:10,.0f}"
              f"{cell(torch_ and torch_['samples_per_s'], '11,.0f'):>11s}"
              f"{cell(r.get('speedup_vs_torch'), '9.2f'):>9s}x{r['flop_floor_s']:9.3f}{r['fraction_of_floor']:10.0%}"
              f"{cell(r.get('torch_fraction_of_floor'), '12.0%'):>12s}")
    print(f"(medians of all epochs, {args.rounds} rounds of {args.block} epochs a side; nnx/torch and the floor "
          "fractions are medians of each round's ratio; the floor is the forward + backward multiply-adds at "
          "the speed of a 2048x2048 float32 matrix product measured each round)")
    for name, r in results["models"].items():
        if "progress_cost" in r:
            print(f"{name}: the progress bar inside the epoch costs {r['progress_cost']:+.1%} of its time "
                  f"({r['nnx_progress']['s_per_epoch']:.3f} s against {r['nnx']['s_per_epoch']:.3f} s)")
    if "startup" in results:
        s = results["startup"]
        print(f"nnx --help: {s['nnx_help_s']:.2f} s; nnx train launch to first epoch: "
              f"{s['launch_to_first_epoch_s']:.2f} s ({s['launch_to_first_epoch_warm_cache_s']:.2f} s "
              "with the compiled programs cached)")
        if args.full:
            print(f"nnx train experiments/mnist_mlp.yaml (30 epochs, nothing cached): {s['mnist_mlp_30_epochs_wall_s']:.1f} s")
    print(json.dumps(results, indent=None, default=float))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))


def startup_times(tmp: Path, full: bool) -> dict:
    """`nnx --help`, and `nnx train mnist_mlp.yaml` from launch to its first epoch, cold and cached."""
    results = {"nnx_help_s": command_seconds([sys.executable, "-m", "nnx", "--help"], 5)}
    with tempfile.TemporaryDirectory() as cache:
        # Cold: no compilation cache. Warm: the second of two runs sharing a fresh cache folder.
        results.update(first_epoch_of_nnx_train(tmp, with_compilation_cache("off")))
        first_epoch_of_nnx_train(tmp, with_compilation_cache(cache))
        results["launch_to_first_epoch_warm_cache_s"] = first_epoch_of_nnx_train(
            tmp, with_compilation_cache(cache))["launch_to_first_epoch_s"]
    if full:  # compiled from scratch, as on a first run
        results["mnist_mlp_30_epochs_wall_s"] = command_seconds(
            [sys.executable, "-m", "nnx", "train", "experiments/mnist_mlp.yaml", "-q", "-o", str(tmp)], 1,
            with_compilation_cache("off"))
    return results


if __name__ == "__main__":
    main()
