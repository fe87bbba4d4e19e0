"""What the launcher tests share: a six-run experiment on the bundled digits, and its results
trained in process (the reference every launcher must reproduce)."""

from __future__ import annotations

import json
from pathlib import Path

SIX = """
name: six
seeds: 2
data: {name: digits, validation_split: 0.2}
model: {type: mlp, hidden: [16]}
training: {epochs: 3, batch_size: 64, optimizer: {name: adam, learning_rate: 0.003}}
variants:
  a: {regularization: {l2: 0.0}}
  b: {regularization: {l2: 1.0e-3}}
  c: {regularization: {l2: 1.0e-2}}
"""


def results(experiment_dir: Path) -> dict[tuple[str, int], dict]:
    """(variant, seed) -> the test and validation metrics of each completed run under the folder."""
    found = {}
    for summary_file in sorted(Path(experiment_dir).glob("*/summary.json")):
        summary = json.loads(summary_file.read_text())
        found[(summary["variant"], summary["seed"])] = {"test": summary["test"], "validation": summary["validation"]}
    return found


def runs_of(out: Path) -> list[Path]:
    """The run folders under an output folder, without a launcher's own (OUTPUT/EXPERIMENT/.slurm)."""
    return sorted(p for p in Path(out).glob("*/*") if p.is_dir() and not p.name.startswith("."))


def epochs(run: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def reference(tmp_path_factory, text: str = SIX, name: str = "six") -> dict:
    from nnx.config import parse_experiment
    from nnx.runner import run_experiment

    out = tmp_path_factory.mktemp(f"reference-{name}")
    outcomes = run_experiment(parse_experiment(text), output_dir=out)
    assert all(o.status == "completed" for o in outcomes)
    return results(out / name)
