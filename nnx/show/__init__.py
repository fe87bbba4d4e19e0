"""One run at a glance (`nnx show RUN`): its status and headline metrics, and for classifiers what
they get wrong on the test split (nnx.show.confusion), with pictures (nnx.show.pictures).

A run folder written before classification.json existed is scored again from its saved model
and data (an ensemble from its members), without writing into the folder; where that cannot be
done, one line says why. No JAX at import.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, NnxError
from . import confusion


@dataclass
class RunView:
    path: Path
    summary: dict                   # summary.json as written
    status: dict                    # status.json as written ({} when absent)
    classification: dict | None     # classification.json, or computed now; None for regression
    computed_now: bool = False      # the run predates classification.json: scored again for this view

    @property
    def task(self) -> str | None:
        return self.summary.get("task") or (self.summary.get("data_info") or {}).get("task")

    @property
    def is_ensemble(self) -> bool:
        return isinstance(self.summary.get("members"), list)


def view(run_dir: str | Path, data_dir=None) -> RunView:
    """A completed run's summary and, for classifiers, its test-split classification record."""
    from ..record import Summary, read_run

    path = _run_folder(run_dir)
    record = read_run(path)
    damaged = [p for p in record.problems if p.startswith(("summary.json", "status.json"))]
    if damaged:  # a torn metrics.jsonl line does not hide a finished run's results
        raise ConfigError(f"{path}: {damaged[0]}; the run folder is damaged (train the run again)")
    state = record.state
    if state != "completed":
        reason = (record.status or {}).get("reason")
        why = f" ({reason})" if isinstance(reason, str) else ""
        todo = (f"resume it with: nnx train --resume {path}" if state in ("interrupted", "crashed")
                else "wait for it to finish" if state == "running" else "fix the cause and train it again")
        raise ConfigError(f"{path}: the run is {state}{why}, so it has no test results to show; {todo}")
    try:
        Summary.from_json(record.summary)
    except ValueError as e:
        raise ConfigError(f"{path}: {e}; train the run again") from None
    result = RunView(path, record.summary, record.status or {}, None)
    if not confusion.is_classifier(result.task):
        return result
    saved = path / confusion.FILE
    if saved.is_file():
        try:
            result.classification = json.loads(saved.read_text(encoding="utf-8"))
            return result
        except (OSError, ValueError, UnicodeDecodeError):
            pass  # a damaged file: score again below, as for a run that predates it
    result.classification = _score_again(result, data_dir)
    result.computed_now = True
    return result


def _run_folder(run_dir) -> Path:
    from ..record import is_run_folder

    path = Path(run_dir)
    if not path.exists():
        raise ConfigError(f"{path}: no such run folder; give a folder under outputs/<experiment>/")
    if not is_run_folder(path):
        inner = [p for p in sorted(path.iterdir()) if is_run_folder(p)] if path.is_dir() else []
        hint = f"; it holds run folders, e.g. {inner[-1]}" if inner else "; give a folder under outputs/<experiment>/"
        raise ConfigError(f"{path}: not a run folder (no config.yaml, summary.json or status.json){hint}")
    return path


def _score_again(run: RunView, data_dir) -> dict:
    """The record of a run written before classification.json: from its saved model (or its
    ensemble's members) and its test data, loaded again."""
    if run.is_ensemble:
        return _score_ensemble_again(run, data_dir)
    from ..models import load_run, load_run_dataset

    dataset = load_run_dataset(run.path, data_dir)
    try:  # a closed-form estimator keeps no weights: load_run fits it again on this data set
        model = load_run(run.path, data_dir, dataset=dataset)
    except NnxError:
        raise
    except Exception as e:  # a missing or damaged checkpoint: Orbax's own errors say little to a user
        raise ConfigError(f"{run.path}: predates classification.json, and its saved model could not be read "
                          f"({type(e).__name__}) to compute it; train the run again") from None
    return confusion.for_dataset(model.predict(dataset.x_test), dataset)


def _score_ensemble_again(run: RunView, data_dir) -> dict:
    from ..ensemble import combine, ensemble
    from ..models import load_run_dataset

    members = [m.get("run") for m in run.summary["members"] if isinstance(m, dict)]
    try:
        result = ensemble(members, data_dir=data_dir, write=False)
    except NnxError as e:
        raise type(e)(f"{run.path}: predates classification.json, and its members could not be scored "
                      f"again: {e}") from None
    dataset = load_run_dataset(result.members[0].path, data_dir)
    outputs = combine([m.outputs["test"] for m in result.members], run.task)
    return confusion.for_dataset(outputs, dataset)


def member_folder(run: RunView) -> Path:
    """Where the run's data section is: the run itself, or an ensemble's first member."""
    if run.is_ensemble:
        first = next((m.get("run") for m in run.summary["members"] if isinstance(m, dict)), None)
        if not first or not Path(first).is_dir():
            raise ConfigError(f"{run.path}: its first member ({first}) is gone, and with it the data section "
                              "the test images come from")
        return Path(first)
    return run.path


def test_split_images(run: RunView, data_dir=None) -> np.ndarray:
    """The test split's inputs for the mistakes picture; refused for runs whose inputs are not images,
    and checked against the recorded labels (the data must be the data the run was scored on)."""
    from ..models import load_run_dataset

    info = run.summary.get("data_info")
    if run.is_ensemble:  # an ensemble's summary has its members' scores, their data_info has the shape
        info = json.loads((member_folder(run) / "summary.json").read_text(encoding="utf-8")).get("data_info")
    shape = (info if isinstance(info, dict) else {}).get("input_shape")
    if not (isinstance(shape, list) and len(shape) == 3 and shape[-1] in (1, 3)):
        raise ConfigError(f"{run.path}: its inputs are not images (shape {tuple(shape or ())}); a mistakes "
                          "picture needs an image run; nnx show lists the mistakes by test index")
    dataset = load_run_dataset(member_folder(run), data_dir)
    mistakes = run.classification.get("mistakes", [])
    if len(dataset.y_test) != run.classification.get("examples") or any(
            int(dataset.y_test[m["index"]]) != m["true"] for m in mistakes):
        raise ConfigError(f"{run.path}: the test data loaded now differ from those the run was scored on; "
                          "point --data-dir at the data it was trained on")
    return dataset.x_test


PLOTS = {"confusion": "the confusion matrix", "mistakes": "the most confidently wrong test images"}


def plot_kind(path: str | Path) -> str:
    """Which picture a --plot file asks for, from its name: confusion*.png or mistakes*.png."""
    name = Path(path).name.lower()
    kinds = [k for k in PLOTS if k.rstrip("s") in name]
    if len(kinds) != 1:
        raise ConfigError(f"--plot {path}: name the file after the picture it holds: "
                          + ", ".join(f"a name with '{k}' draws {what}" for k, what in PLOTS.items()))
    return kinds[0]


def plot(run: RunView, path: str | Path, data_dir=None, count: int = 25) -> Path:
    """Draw the picture `path`'s name asks for (see plot_kind)."""
    from . import pictures as plots

    kind = plot_kind(path)
    if run.classification is None:
        raise ConfigError(f"--plot {path}: a confusion matrix applies to classifiers; this run is a "
                          f"{run.task or 'regression'} run")
    plots.check_writable(path)
    if kind == "confusion":
        return plots.plot_confusion(run.classification, path)
    images = test_split_images(run, data_dir)
    return plots.plot_mistakes(run.classification, images, path, count=count)


__all__ = ["PLOTS", "RunView", "confusion", "plot", "plot_kind", "test_split_images", "view"]
