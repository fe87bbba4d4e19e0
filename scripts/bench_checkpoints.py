"""What checkpointing costs: two nnx checkouts train the same experiments, alternating, side by side.

    NNX_DATA_DIR=../shared/data python scripts/bench_checkpoints.py --old /work/main [--rounds 3]
        [--json checkpoints.json]

Each round runs, with each checkout (old, then new, then the order reversed in the next round),
`nnx train experiments/quickstart.yaml` (40 epochs of a small MLP on the 8x8 digits) and
`nnx train experiments/nyse.yaml --only nar_skip` (400 epochs of a 32-unit network, one seed, no
parallel seeds), as fresh processes. It reports the wall time (launch to exit, which includes
importing JAX) and the training seconds that summary.json records, as medians over the rounds,
and each ratio old/new. The machine may be shared and noisy: the alternation puts the drift on
both sides alike, it does not remove it; say so with the numbers.

    python scripts/bench_checkpoints.py --in-process [--rounds 3]

trains `nar_skip` in this one process (this checkout), alternating `training.checkpoint_every_s:
0` (a checkpoint after every epoch, as before) and the default, and prints the training seconds:
the checkpoints' own cost, without the processes' start.
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

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "quickstart": ["experiments/quickstart.yaml"],
    "nyse nar_skip 400 epochs": ["experiments/nyse.yaml", "--only", "nar_skip", "--set", "training.parallel_seeds=false"],
}


def train(checkout: Path, args: list[str], out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nnx", "train", *args, "-q", "-o", str(out)], cwd=ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    (summary,) = out.glob("*/*/summary.json")
    saved = sum(1 for _ in out.glob("*/*/checkpoints/last/*"))  # Orbax keeps the latest one only
    return {"wall_s": wall, "train_s": json.loads(summary.read_text())["seconds"], "checkpoint_folders": saved}


def in_process(rounds: int) -> None:
    sys.path.insert(0, str(ROOT))
    from nnx.config import load_experiment
    from nnx.runner import run_experiment

    settings = {"every epoch (checkpoint_every_s 0)": ["training.checkpoint_every_s=0"], "default (30 s)": []}
    seconds: dict = {name: [] for name in settings}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds + 1):  # round 0 compiles (and fills the compilation cache); not counted
            for name, overrides in (settings.items() if r % 2 else list(settings.items())[::-1]):
                experiment = load_experiment(ROOT / "experiments" / "nyse.yaml", only=["nar_skip"], overrides=overrides)
                (outcome,) = run_experiment(experiment, output_dir=Path(tmp) / f"{r}-{len(seconds[name])}")
                if r:
                    seconds[name].append(outcome.summary["seconds"])
                print(f"round {r} {name}: {outcome.summary['seconds']:.2f} s training", file=sys.stderr)
    for name, values in seconds.items():
        print(f"{name:36s} median {statistics.median(values):6.2f} s  ({', '.join(f'{v:.2f}' for v in values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", type=Path, help="the checkout to compare against (e.g. /work/main)")
    parser.add_argument("--in-process", action="store_true", help="every epoch against the default, in one process")
    parser.add_argument("--new", type=Path, default=ROOT, help="default: this checkout")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.in_process:
        return in_process(args.rounds)
    if args.old is None:
        parser.error("give --old CHECKOUT (or --in-process)")
    sides = {"old": args.old.resolve(), "new": args.new.resolve()}
    times: dict = {case: {side: [] for side in sides} for case in CASES}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = list(sides) if r % 2 == 0 else list(sides)[::-1]
            for case, case_args in CASES.items():
                for side in order:
                    out = Path(tmp) / f"{r}-{side}-{len(times[case][side])}-{case.split()[0]}"
                    result = train(sides[side], case_args, out)
                    times[case][side].append(result)
                    print(f"round {r + 1} {case:26s} {side}: {result['wall_s']:6.2f} s wall, "
                          f"{result['train_s']:6.2f} s training", file=sys.stderr)
    report = {"old": str(sides["old"]), "new": str(sides["new"]), "rounds": args.rounds, "cases": {}}
    print(f"\n{'experiment':28s} {'old wall':>9s} {'new wall':>9s} {'ratio':>6s} "
          f"{'old train':>10s} {'new train':>10s} {'ratio':>6s}")
    for case in CASES:
        med = {side: {k: statistics.median(t[k] for t in times[case][side]) for k in ("wall_s", "train_s")}
               for side in sides}
        wall_ratio = med["old"]["wall_s"] / med["new"]["wall_s"]
        train_ratio = med["old"]["train_s"] / med["new"]["train_s"]
        report["cases"][case] = {"median": med, "old_over_new_wall": wall_ratio, "old_over_new_train": train_ratio,
                                 "all": times[case]}
        print(f"{case:28s} {med['old']['wall_s']:8.2f}s {med['new']['wall_s']:8.2f}s {wall_ratio:5.2f}x "
              f"{med['old']['train_s']:9.2f}s {med['new']['train_s']:9.2f}s {train_ratio:5.2f}x")
    print("\nmedians over the rounds; wall: launch to exit (imports included); train: summary.json's seconds")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
