"""Average the predictions of trained networks (`nnx ensemble RUN...`): a seed ensemble.

Networks trained from different seeds make partly independent errors, so the mean of their
predictions usually scores better than a typical member. Each member is a completed run folder;
its model is rebuilt from config.yaml and restored from its checkpoint, then run on the same
data. Regression outputs are averaged; for classifiers the class probabilities are averaged
(the ensemble's logits are their logarithm), so loss and accuracy mean what they mean for a run.

The result is a run folder of its own, written only once every member has been scored, so an
error or Ctrl-C leaves no folder behind; `nnx compare` shows it beside its members.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ConfigError
from .models.base import Model
from .show import confusion

SPLITS = ("validation", "test")


@dataclass
class Member:
    path: Path
    spec: object  # RunSpec
    config: dict  # config.yaml as written (older runs lack newer keys)
    params: int
    task: object  # train.tasks.Task
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # split -> model outputs
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class EnsembleResult:
    folder: Path | None
    summary: dict
    members: list[Member]


def combine(outputs: list[np.ndarray], task: str) -> np.ndarray:
    """The ensemble's outputs, in the form its task's loss reads: the mean for regression, the
    log of the mean probability for classification, the logit of the mean probability for binary."""
    stacked = np.stack([np.asarray(o, np.float64) for o in outputs])
    if task == "regression":
        return stacked.mean(axis=0)
    if task == "classification":
        shifted = stacked - stacked.max(axis=-1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
        return np.log(np.maximum(probs.mean(axis=0), np.finfo(np.float64).tiny))
    if task == "binary":
        p = (1.0 / (1.0 + np.exp(-stacked))).mean(axis=0)
        p = np.clip(p, 1e-12, 1 - 1e-12)  # a member certain of a class gives p = 1: keep the logit finite
        return np.log(p) - np.log1p(-p)
    raise ValueError(f"unknown task {task!r}")


class Averaged(Model):
    """An ensemble's folder as one `Model`: its members' outputs combined as the ensemble scored
    them (`combine`). Nothing to fit or save: its members are trained run folders."""

    def __init__(self, members: list[Model], task: str):
        first = members[0]
        super().__init__(members, first.family, first.spec, first.info)
        self.members, self.task, self.run_spec = members, task, first.run_spec

    @property
    def trains_in_epochs(self) -> bool:
        return False

    @classmethod
    def load(cls, path: Path, summary, data_dir=None) -> Averaged:
        from .models import load_run

        runs = [Path(m["run"]) for m in summary.members or [] if isinstance(m, dict) and "run" in m]
        if not runs:
            raise ConfigError(f"{path}: an ensemble whose summary.json lists no member runs; make it again "
                              "with nnx ensemble")
        for run in runs:
            if not (run / "summary.json").is_file():
                raise ConfigError(f"{path}: its member {run} is gone (no summary.json there); an ensemble "
                                  "predicts with its members' saved models")
        return cls([load_run(run, data_dir) for run in runs], summary.task)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return combine([m.predict(x) for m in self.members], self.task).astype(np.float32)

    def num_params(self) -> int:
        return sum(m.num_params() for m in self.members)


def _fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    digest = hashlib.sha256()
    for a in (x, y):
        a = np.ascontiguousarray(a)
        digest.update(str((a.shape, a.dtype)).encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def _check_member(path: Path) -> Member:
    """A completed network run with a saved model, checked before any member is scored."""
    from . import models
    from .config import load_run_config
    from .record import is_run_folder, read_run
    from .train import tasks

    if not path.is_dir():
        raise ConfigError(f"{path}: no such run folder")
    if not is_run_folder(path):
        inner = "; it holds run folders: give those, e.g. its */ folders" if any(
            is_run_folder(p) or (p.is_dir() and any(is_run_folder(q) for q in p.iterdir()))
            for p in path.iterdir() if p.is_dir()) else ""
        raise ConfigError(f"{path}: not a run folder (no config.yaml or summary.json){inner}")
    record = read_run(path)
    summary = record.summary if isinstance(record.summary, dict) else {}
    if (isinstance(record.config, dict) and "ensemble" in record.config) or "members" in summary:
        raise ConfigError(f"{path}: is an ensemble itself; give the runs it was made of")
    if record.problems:
        raise ConfigError(f"{path}: {record.problems[0]}; train the run again, or leave it out")
    if record.state == "running":
        raise ConfigError(f"{path}: the run is still running; wait for it to finish, or leave it out")
    if record.state != "completed":
        raise ConfigError(f"{path}: the run is {record.state}, not completed; finish it "
                          f"(nnx train --resume {path}) or leave it out")
    if not isinstance(record.config, dict):
        raise ConfigError(f"{path}: no config.yaml, so its model cannot be rebuilt; train the run again")
    spec = load_run_config(path / "config.yaml")
    if not models.family(spec.model).network:  # closed-form models keep no weights to restore
        raise ConfigError(f"{path}: a {spec.model.type} model has no network to average; "
                          "nnx ensemble takes network runs")
    if not (path / "checkpoint").is_dir():
        raise ConfigError(f"{path}: no saved model (checkpoint/ is missing); train the run again")
    info = summary.get("data_info")
    if not isinstance(info, dict) or info.get("task") not in tasks.TASKS:
        raise ConfigError(f"{path}: summary.json has no data_info (the data's shape and task), so its "
                          "model cannot be rebuilt; train the run again")
    params = summary.get("params") if isinstance(summary.get("params"), int) else 0
    return Member(path, spec, record.config, params, tasks.task_for(info["task"], spec.training.loss))


def check_members(paths) -> list[Member]:
    """Every member checked, and checked against the others, before any is scored."""
    paths = [Path(p) for p in paths]
    if len({p.resolve() for p in paths}) < len(paths):
        raise ConfigError("a run folder is given twice; give each member once")
    members = [_check_member(p) for p in paths]
    if len(members) < 2:
        raise ConfigError("nnx ensemble needs at least two run folders, e.g. a variant's seeds: "
                          "outputs/EXPERIMENT/*-VARIANT-seed*")
    first = members[0]
    seen: dict[str, Path] = {}
    for m in members:
        if m.spec.data != first.spec.data:
            raise ConfigError(f"{m.path}: its data section differs from {first.path}'s; an "
                              "ensemble's members must be trained and scored on the same data")
        if m.task is not first.task:
            raise ConfigError(f"{m.path}: trained on {m.task.loss_name}, {first.path} on "
                              f"{first.task.loss_name}; give members trained on the same loss")
        # Same config and seed: the same weights (training is deterministic), counted twice.
        same = json.dumps(m.spec.model_dump(mode="json", exclude={"experiment", "variant"}), sort_keys=True)
        if same in seen:
            raise ConfigError(f"{m.path}: the same run as {seen[same]} (same config and seed); "
                              "give each member once")
        seen[same] = m.path
    return members


def default_output_dir(paths) -> Path:
    """Where the members' experiments are (OUTPUT_DIR/<experiment>/<run>), if they share it."""
    roots = {Path(p).resolve().parent.parent for p in paths}
    return roots.pop() if len(roots) == 1 else Path("outputs")


def ensemble(paths, output_dir: str | Path | None = None, data_dir=None, write: bool = True,
             progress=lambda text: None, should_stop=lambda: False) -> EnsembleResult:
    """Score each run in `paths` and their ensemble on the members' validation and test data.

    Every member must have the same data section (the test days or images must be the same); the
    validation metrics are reported only when every member was validated on the same examples
    (a random validation split differs by seed, and then each member has trained on the others'
    validation examples). The ensemble's folder goes to `output_dir`, by default beside the
    members' experiment folder. `should_stop` (Ctrl-C) is polled after each member: the work then
    ends with KeyboardInterrupt, before anything is written.
    """
    from . import data
    from .models import load_run
    from .record import ensure_writable
    from .train.tasks import score

    members = check_members(paths)
    output_dir = Path(output_dir) if output_dir is not None else default_output_dir(paths)
    experiment = _shared((m.spec.experiment for m in members), "ensemble")
    if write:  # before minutes of scoring, not after
        ensure_writable(output_dir, experiment)
    task = members[0].task

    started = time.perf_counter()
    fingerprints: dict[str, set[str]] = {split: set() for split in SPLITS}
    targets: dict[str, np.ndarray] = {}
    for i, member in enumerate(members, 1):
        progress(f"[{i}/{len(members)}] {member.path.name}")
        dataset = data.load(member.spec.data, seed=member.spec.seed, data_dir=data_dir)
        classes = dataset.meta.get("classes")  # the same data section for all: the same names
        try:
            model = load_run(member.path)
        except Exception as e:  # a damaged or partial checkpoint: Orbax's own errors say little to a user
            raise ConfigError(f"{member.path}: its saved model could not be read ({type(e).__name__}); "
                              "train the run again, or leave it out") from e
        for split, (x, y) in {"validation": (dataset.x_val, dataset.y_val), "test": (dataset.x_test, dataset.y_test)}.items():
            if len(x) == 0:
                continue
            fingerprints[split].add(_fingerprint(x, y))
            targets[split] = y
            member.outputs[split] = model.predict(x)
            member.metrics[split] = score(task, member.outputs[split], y)
        del dataset, model
        if should_stop():
            raise KeyboardInterrupt

    same = [s for s in SPLITS if len(fingerprints[s]) == 1 and all(s in m.outputs for m in members)]
    if "test" not in same:
        raise ConfigError("the members' test data differ (or one has none); an ensemble is scored on "
                          "one test set")
    scores = {s: score(task, combine([m.outputs[s] for m in members], task.name), targets[s]) for s in same}
    summary = _summary(members, experiment, scores, task, time.perf_counter() - started)
    classification = None
    if confusion.is_classifier(task.name):  # what the ensemble gets wrong, as a run's classification.json
        classification = confusion.report(task.name, combine([m.outputs["test"] for m in members], task.name),
                                          targets["test"], classes)
    folder = _write(summary, members, output_dir, classification) if write else None
    if folder is not None:
        summary["run"] = folder.name
    return EnsembleResult(folder, summary, members)


def _shared(values, default: str):
    values = set(values)
    return values.pop() if len(values) == 1 else default


def _summary(members: list[Member], experiment: str, scores: dict, task, seconds: float) -> dict:
    """summary.json of the ensemble (a `Summary`, with its members' scores)."""
    import jax

    from . import __version__
    from .record import Summary

    variant = _shared((m.spec.variant for m in members), None)
    model = _shared((m.spec.model.type for m in members), "mixed")
    device = jax.devices()[0]
    return Summary(
        experiment=experiment, variant=f"{variant}-ensemble" if variant else "ensemble", seed=None,
        model=f"ensemble of {len(members)} {model}", task=task.name, params=sum(m.params for m in members),
        epochs=None, best_epoch=None, seconds=round(seconds, 3),
        validation=scores.get("validation", {}), test=scores["test"],
        members=[{"run": str(m.path.resolve()), "seed": m.spec.seed, "validation": m.metrics.get("validation", {}),
                  "test": m.metrics["test"]} for m in members],
        device=f"{device.platform}:{device.device_kind}",
        versions={"nnx": __version__, "jax": jax.__version__},
        finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    ).to_json()


def shared_config(configs: list[dict]) -> dict:
    """The config keys (data.lags, model.hidden, ...) every member's config.yaml has alike, nested
    again; the seed and the run's names apart. `nnx compare` then shows only what differs."""
    from .record.metrics import flatten

    flat = [flatten({k: v for k, v in c.items() if k not in ("experiment", "variant", "seed")}) for c in configs]
    shared: dict = {}
    for key, value in flat[0].items():
        if all(key in f and f[key] == value for f in flat[1:]):
            node = shared
            *parents, leaf = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
    return shared


def _write(summary: dict, members: list[Member], output_dir, classification: dict | None = None) -> Path:
    import yaml

    from .record import RunFolder

    folder = RunFolder.create(Path(output_dir), summary["experiment"], summary["variant"])
    config = {
        "experiment": summary["experiment"],
        "variant": summary["variant"],
        # The members' own settings where they all agree (compare then shows only what differs);
        # which runs they are is in summary.json.
        **shared_config([m.config for m in members]),
        "ensemble": {"size": len(members),
                     "combine": "mean" if summary["task"] == "regression" else "mean probability"},
    }
    try:
        folder.write_config(yaml.safe_dump(config, sort_keys=False))
        confusion.write(folder.path, classification)
        preprocessing = members[0].path / "preprocessing.json"  # the members' data are the same
        if preprocessing.is_file():
            shutil.copyfile(preprocessing, folder.path / "preprocessing.json")
        folder.write_summary({**summary, "run": folder.path.name})
        folder.set_status("completed")
    except BaseException:  # a full disk or Ctrl-C mid-write: no half-written folder stays behind
        shutil.rmtree(folder.path, ignore_errors=True)
        raise
    return folder.path
