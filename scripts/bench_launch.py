"""Wall time of the launchers: `nnx train EXP --jobs 2` against `nnx train EXP` (one process, one
run after another), and the SLURM round trip of one run (`--launcher slurm --wait`) against the
same run in one process. Each round runs every side once, in alternating order (this machine is
shared and its speed drifts), and the medians are printed with every round's times.

    python scripts/bench_launch.py                     # --jobs 2 vs sequential, 3 rounds
    python scripts/bench_launch.py --slurm             # also the SLURM round trip (scripts/slurm_local.sh start)
    python scripts/bench_launch.py --experiment experiments/mnist_mlp.yaml --set training.epochs=5 --set seeds=4
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ["--set", "seeds=4", "--set", "training.epochs=30"]


def seconds(args: list[str]) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "nnx", "train", *args, "-o", out, "-q"],
                              capture_output=True, text=True, cwd=ROOT)
        took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"nnx train {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return took


def compare(sides: dict[str, list[str]], rounds: int) -> dict[str, list[float]]:
    times = {name: [] for name in sides}
    names = list(sides)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            times[name].append(seconds(sides[name]))
            print(f"  round {r + 1}: {name}: {times[name][-1]:.1f} s", flush=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default=str(ROOT / "experiments" / "quickstart.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slurm", action="store_true", help="also time the SLURM round trip of one run")
    args = parser.parse_args()
    sets = [a for o in (args.overrides or []) for a in ("--set", o)] if args.overrides else DEFAULT
    base = [args.experiment, *sets]
    print(f"nnx train {' '.join(base)}  (cores: {len(os.sched_getaffinity(0))}, load: {os.getloadavg()[0]:.1f})")
    times = compare({"sequential": base, "--jobs 2": [*base, "--jobs", "2"]}, args.rounds)
    ratios = [s / j for s, j in zip(times["sequential"], times["--jobs 2"])]
    print(f"sequential {statistics.median(times['sequential']):.1f} s, --jobs 2 "
          f"{statistics.median(times['--jobs 2']):.1f} s (medians); sequential / jobs per round: "
          + ", ".join(f"{r:.2f}x" for r in ratios) + f"; median {statistics.median(ratios):.2f}x")
    if args.slurm:
        one = [args.experiment, "--set", "training.epochs=1"]
        times = compare({"in process": one, "slurm": [*one, "--launcher", "slurm", "--wait"]}, args.rounds)
        extra = [s - p for s, p in zip(times["slurm"], times["in process"])]
        print(f"one run: in process {statistics.median(times['in process']):.1f} s, through SLURM "
              f"{statistics.median(times['slurm']):.1f} s (submit, wait, read back; medians); "
              f"SLURM adds {statistics.median(extra):.1f} s (rounds: " + ", ".join(f"{e:.1f}" for e in extra) + ")")


if __name__ == "__main__":
    main()
