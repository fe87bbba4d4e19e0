"""The whole chapter: train every shipped experiment one after another; print each one's wall time,
its headline result and the total, as a table.

    NNX_DATA_DIR=../shared/data python scripts/chapter.py [-o outputs/chapter] [--only nyse ...]
        [--skip cifar100_cnn ...] [--quick] [--download] [--json chapter.json]

Each `experiments/*.yaml` runs as its own `nnx train FILE -q` process (launch to exit is its wall
time, imports and compilation included), into a fresh folder under `-o`. An experiment whose data
is absent is skipped with nnx's own one-line message (downloads are off unless `--download`): nnx
checks every data set before it makes a run folder. The headline is the best run by the
experiment's headline metric (test R² for NYSE, test MAE for Hitters, test accuracy for Fashion-MNIST
and IMDB, otherwise what `nnx compare` sorts by: test error for classifiers). `--quick` runs the
experiments that take a minute or two (quickstart, perceptron, Hitters, NYSE, Default, the MNIST
MLP); the whole chapter takes about an hour on a 2-core CPU. Each process's output is kept in
OUT/logs/. Exit status 1 if any experiment failed (a skipped one is not a failure).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUICK = ("quickstart", "perceptron", "hitters", "nyse", "default", "mnist_mlp")
HEADLINE = {"nyse": "test.r2", "hitters": "test.mae", "fashion_mnist_cnn": "test.accuracy",
            "imdb_bow": "test.accuracy", "imdb_rnn": "test.accuracy"}


def experiment_files(only: list[str], skip: list[str], quick: bool) -> list[Path]:
    files = sorted((ROOT / "experiments").glob("*.yaml"))
    stems = {f.stem for f in files}
    unknown = sorted(set(only + skip) - stems)
    if unknown:
        raise ValueError(f"no experiments/{unknown[0]}.yaml; choose from {', '.join(sorted(stems))}")
    wanted = set(only) or (set(QUICK) if quick else stems)
    return [f for f in files if f.stem in wanted and f.stem not in skip]


def headline(folders: list[Path], stem: str) -> str:
    """'best run: metric value' over the experiment's run folders."""
    from nnx.compare import compare
    from nnx.record.metrics import format_value

    if not folders:
        return ""
    try:
        comparison = compare(folders, metrics=[HEADLINE[stem]] if stem in HEADLINE else [])
    except Exception as e:  # a metric no run has: say so instead of failing the whole chapter
        return f"(no headline: {e})"
    best = comparison.best
    if best is None:
        return "(no run has a test metric)"
    stat = best.metric(comparison.metric)
    value = format_value(comparison.metric, stat.mean)
    seeds = f" (mean of {best.n})" if best.n > 1 else ""
    return f"{best.name}: {comparison.metric} {value}{seeds}"


def run_one(path: Path, out: Path, logs: Path, download: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    if not download:
        env["NNX_NO_DOWNLOAD"] = "1"
    before = {p for p in out.glob("*/*") if p.is_dir()}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nnx", "train", str(path), "-q", "-o", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    (logs / f"{path.stem}.log").write_text(proc.stdout + proc.stderr)
    folders = sorted(p for p in out.glob("*/*") if p.is_dir() and p not in before)
    last_error = next((line.strip() for line in reversed(proc.stderr.splitlines()) if line.strip()), "")
    if proc.returncode == 2 and not folders:  # refused before any run: absent data (or a bad file)
        return {"experiment": path.stem, "status": "skipped", "wall_s": wall, "runs": 0, "headline": last_error}
    status = {0: "completed", 130: "interrupted"}.get(proc.returncode, "failed")
    result = {"experiment": path.stem, "status": status, "wall_s": wall, "runs": len(folders),
              "headline": headline(folders, path.stem)}
    if status != "completed":
        result["error"] = last_error
    return result


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def print_table(results: list[dict], total: float) -> None:
    width = max([len("experiment"), *(len(r["experiment"]) for r in results)])
    print(f"\n{'experiment':{width}s}  {'status':11s} {'runs':>4s} {'wall':>9s}  headline")
    for r in results:
        text = r["headline"] if r["status"] != "failed" else f"{r['headline']}  [{r.get('error', '')}]"
        print(f"{r['experiment']:{width}s}  {r['status']:11s} {r['runs']:4d} {minutes(r['wall_s']):>9s}  {text}")
    print(f"{'total':{width}s}  {'':11s} {sum(r['runs'] for r in results):4d} {minutes(total):>9s}"
          f"  (m:ss, launch to exit, one experiment after another)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output-dir", type=Path, help="default: outputs/chapter-<time>")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="an experiment's file stem")
    parser.add_argument("--skip", action="append", default=[], metavar="NAME")
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--download", action="store_true", help="let nnx download absent data sets")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    try:
        files = experiment_files(args.only, args.skip, args.quick)
    except ValueError as e:
        parser.error(str(e))  # exit 2
    out = args.output_dir or ROOT / "outputs" / time.strftime("chapter-%Y%m%d-%H%M%S")
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    results = []
    start = time.perf_counter()
    for path in files:
        print(f"{path.stem} ...", file=sys.stderr, flush=True)
        began = time.perf_counter()
        try:
            result = run_one(path, out, logs, args.download)
        except KeyboardInterrupt:  # nnx got the Ctrl-C too and saved its run; the table shows what ran
            results.append({"experiment": path.stem, "status": "interrupted", "wall_s": time.perf_counter() - began,
                            "runs": 0, "headline": "Ctrl-C; the experiments after it were not run"})
            break
        print(f"{path.stem}: {result['status']}, {minutes(result['wall_s'])}  {result['headline']}",
              file=sys.stderr, flush=True)
        results.append(result)
    total = time.perf_counter() - start
    print_table(results, total)
    if args.json:
        args.json.write_text(json.dumps({"output_dir": str(out), "total_s": total, "experiments": results},
                                        indent=2))
    sys.exit(1 if any(r["status"] in ("failed", "interrupted") for r in results) else 0)


if __name__ == "__main__":
    main()
