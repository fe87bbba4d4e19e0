"""Run an experiment: every variant and seed, each into its own run folder.

config -> data.load -> models.build -> train.fit -> run folder. A failing run is recorded as
failed and the others still run; user errors (bad config, missing data) surface before any
folder is made.
"""

from __future__ import annotations

import dataclasses
import json
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from . import __version__
from .config import Experiment, RunSpec, dump_run_config
from .errors import NnxError, RunError
from .runs import RunFolder, ensure_writable


class Reporter(Protocol):
    """What the runner tells its user; the CLI implements it with Rich."""

    def run_started(self, spec: RunSpec, index: int, total: int, folder: Path, params: int) -> None: ...
    def epoch_ended(self, spec: RunSpec, record) -> None: ...
    def run_ended(self, outcome: RunOutcome) -> None: ...
    def message(self, text: str) -> None: ...


class SilentReporter:
    def run_started(self, *a, **k): ...
    def epoch_ended(self, *a, **k): ...
    def run_ended(self, *a, **k): ...
    def message(self, *a, **k): ...


@dataclass
class RunOutcome:
    spec: RunSpec
    folder: Path | None
    status: str  # completed | failed | interrupted
    summary: dict | None = None
    error: str | None = None


def plan(experiment: Experiment) -> list[tuple[RunSpec, str]]:
    """The runs an experiment would make, with their names (what --dry-run prints)."""
    return [(spec, spec.run_name) for spec in experiment.runs]


def run_experiment(experiment: Experiment, output_dir: str | Path = "outputs", data_dir=None,
                   reporter: Reporter | None = None, debug: bool = False) -> list[RunOutcome]:
    reporter = reporter or SilentReporter()
    output_dir = Path(output_dir)
    ensure_writable(output_dir)
    datasets = _DataCache(data_dir)
    # Load every data set the runs need before the first run starts: a missing file is a user
    # error that must cost seconds and leave no run folder behind.
    for spec in experiment.runs:
        datasets.get(spec)
    outcomes = []
    for index, spec in enumerate(experiment.runs, 1):
        try:
            outcome = run_one(spec, datasets.get(spec), output_dir, reporter, index, len(experiment.runs))
        except KeyboardInterrupt:
            raise
        except NnxError as e:
            if getattr(e, "exit_code", 1) == 2 and not outcomes:
                raise  # a config problem found at build time: nothing has run yet
            outcome = RunOutcome(spec, getattr(e, "folder", None), "failed", error=str(e))
        except Exception as e:  # a bug or a backend failure: record it, go on with the other runs
            if debug:
                traceback.print_exc()
            outcome = RunOutcome(spec, None, "failed", error=f"{type(e).__name__}: {e}")
        reporter.run_ended(outcome)
        outcomes.append(outcome)
    return outcomes


class _DataCache:
    """Each data set is loaded once per (data section, seed) and shared by the runs that use it."""

    def __init__(self, data_dir):
        self.data_dir, self.cache = data_dir, {}

    def get(self, spec: RunSpec):
        from . import data

        key = (json.dumps(spec.data.model_dump(mode="json"), sort_keys=True), spec.seed)
        if key not in self.cache:
            self.cache[key] = data.load(spec.data, seed=spec.seed, data_dir=self.data_dir)
        return self.cache[key]


def run_one(spec: RunSpec, dataset, output_dir: Path, reporter: Reporter, index: int = 1, total: int = 1) -> RunOutcome:
    from . import models

    model = _build(spec, dataset)
    folder = RunFolder.create(output_dir, spec.experiment, spec.run_name)
    folder.write_config(dump_run_config(spec))
    folder.set_status("running")
    reporter.run_started(spec, index, total, folder.path, _count_params(model))
    try:
        if models.is_network(spec.model):
            summary = _train_network(spec, dataset, model, folder, reporter)
        else:
            summary = _fit_estimator(spec, dataset, model)
        summary = {**_summary_header(spec, dataset, folder), **summary}
        folder.write_summary(summary)
        folder.set_status("completed")
        return RunOutcome(spec, folder.path, "completed", summary)
    except KeyboardInterrupt:
        folder.set_status("interrupted", reason="interrupted by the user (Ctrl-C)")
        raise
    except Exception as e:
        message = str(e) if isinstance(e, NnxError) else f"{type(e).__name__}: {e}"
        folder.set_status("failed", reason=message)
        if isinstance(e, NnxError):
            e.folder = folder.path
            raise
        raise RunError(message) from e


def _build(spec: RunSpec, dataset):
    from flax import nnx

    from . import models

    return models.build(spec.model, dataset.info, nnx.Rngs(spec.seed))


def _count_params(model) -> int:
    """Trainable parameters of a network; closed-form estimators know theirs only once fitted."""
    import jax
    from flax import nnx

    if not isinstance(model, nnx.Module):
        return 0
    return int(sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param))))


def _train_network(spec: RunSpec, dataset, model, folder: RunFolder, reporter: Reporter) -> dict:
    from .train.checkpoint import save_model
    from .train.loop import fit

    def on_epoch(record):
        folder.append_metrics(record.as_json())
        reporter.epoch_ended(spec, record)

    result = fit(model, dataset, spec, callbacks=[on_epoch])
    save_model(folder.checkpoint_dir, result.model)
    return {
        "params": _count_params(result.model),
        "epochs": len(result.history),
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "seconds": round(result.seconds, 3),
        "validation": result.validation,
        "test": result.test,
    }


def _fit_estimator(spec: RunSpec, dataset, estimator) -> dict:
    import numpy as np

    from .train import tasks

    task = tasks.task_for(dataset.info.task)
    started = time.perf_counter()
    estimator.fit(dataset)
    seconds = time.perf_counter() - started

    def evaluate(x, y):
        if len(x) == 0:
            return {}
        scores = np.asarray(estimator.predict_scores(x), np.float32)
        return tasks.finalize(task, task.sums(scores, y, np.ones(len(y), np.float32)))

    extras = estimator.summary_extras() if hasattr(estimator, "summary_extras") else {}
    return {
        **extras,
        "params": estimator.num_params(),
        "epochs": 0,
        "closed_form": True,
        "best_epoch": None,
        "stopped_early": False,
        "seconds": round(seconds, 3),
        "validation": evaluate(dataset.x_val, dataset.y_val),
        "test": evaluate(dataset.x_test, dataset.y_test),
    }


def _summary_header(spec: RunSpec, dataset, folder: RunFolder) -> dict[str, Any]:
    import jax

    device = jax.devices()[0]
    return {
        "experiment": spec.experiment,
        "run": folder.path.name,
        "variant": spec.variant,
        "seed": spec.seed,
        "model": spec.model.type,
        "task": dataset.info.task,
        "data": {"name": dataset.name, **dataset.sizes()},
        "data_info": dataclasses.asdict(dataset.info),
        **({"data_meta": dataset.meta} if dataset.meta else {}),  # e.g. text preprocessing
        "device": f"{device.platform}:{device.device_kind}",
        "versions": {"nnx": __version__, "jax": jax.__version__},
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
