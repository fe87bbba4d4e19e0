"""Figure 4 of the notes from the run folders of experiments/imdb_bow.yaml: accuracy against lambda.

    python scripts/imdb_bow_figure.py outputs/imdb_bow [--out imdb_bow.png]

Reads every completed run's summary.json (the latest run of each variant), prints a markdown
table of every variant, and plots validation and test accuracy of the lasso and ridge paths
against -log10(lambda), with the networks as horizontal lines.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def latest_summaries(folder: Path) -> dict[str, dict]:
    runs = {}
    for path in sorted(folder.glob("*/summary.json")):  # folder names sort by time
        summary = json.loads(path.read_text())
        runs[summary["variant"]] = summary
    return runs


def table(runs: dict[str, dict]) -> str:
    lines = ["| variant | model | lambda | nonzero coef. | params | epochs | validation acc. | test acc. | seconds |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, s in runs.items():
        lam = s.get("lam")
        lines.append(f"| {name} | {s['model']} | {'' if lam is None else f'{lam:g}'} | "
                     f"{s.get('nonzero_coefficients', '')} | {s['params']:,} | {s['epochs']} | "
                     f"{s['validation'].get('accuracy', float('nan')):.4f} | {s['test']['accuracy']:.4f} | "
                     f"{s['seconds']:.1f} |")
    return "\n".join(lines)


def plot(runs: dict[str, dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for penalty, label, colour in (("l1", "lasso", "tab:blue"), ("l2", "ridge", "tab:orange")):
        path = sorted((-math.log10(s["lam"]), s) for s in runs.values() if s.get("penalty") == penalty and s.get("lam"))
        if not path:
            continue
        xs = [x for x, _ in path]
        ax.plot(xs, [s["test"]["accuracy"] for _, s in path], "o-", color=colour, label=f"{label}: test")
        ax.plot(xs, [s["validation"]["accuracy"] for _, s in path], "o--", color=colour, alpha=0.5,
                label=f"{label}: validation")
    for name, s in runs.items():
        if s["model"] == "bow_mlp":
            ax.axhline(s["test"]["accuracy"], ls=":", color="k" if name == "nn" else "grey",
                       label=f"{name} (16-16 network): test")
    ax.set_xlabel(r"$-\log_{10}\lambda$")
    ax.set_ylabel("accuracy")
    ax.set_title("IMDB, binary bag of words (10,000 words)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="outputs/imdb_bow")
    parser.add_argument("--out", type=Path, default=Path("imdb_bow.png"))
    args = parser.parse_args()
    runs = latest_summaries(args.folder)
    if not runs:
        raise SystemExit(f"{args.folder}: no summary.json found; run nnx train experiments/imdb_bow.yaml first")
    print(table(runs))
    plot(runs, args.out)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
