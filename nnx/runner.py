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
from .errors import ConfigError, NnxError, RunError
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


def run_experiment(experiment: Experiment, output_dir: str | Path = "outputs", data_dir=None,
                   reporter: Reporter | None = None, debug: bool = False,
                   devices: int | str | None = None) -> list[RunOutcome]:
    reporter = reporter or SilentReporter()
    output_dir = Path(output_dir)
    ensure_writable(output_dir, experiment.name)
    datasets = _DataCache(data_dir)
    # Load every data set the runs need before the first run starts: a missing file is a user
    # error that must cost seconds and leave no run folder behind.
    _check_networks(experiment.runs, datasets, devices)
    outcomes: list[RunOutcome] = []
    total = len(experiment.runs)
    with InterruptFlag(reporter) as interrupt:
        for group in _parallel_groups(experiment.runs):
            if len(group) > 1:
                ended = _run_seeds_together(group, datasets, output_dir, reporter, len(outcomes) + 1, total, interrupt)
            else:
                ended = [_run_guarded(group[0], datasets, output_dir, reporter, len(outcomes) + 1, total,
                                      interrupt, debug, first=not outcomes, devices=devices)]
            for outcome in ended:
                reporter.run_ended(outcome)
                outcomes.append(outcome)
            if any(o.status == "interrupted" for o in ended):
                break  # the user asked to stop: the remaining runs are not started
    left = experiment.runs[len(outcomes):]
    if left:
        reporter.message(f"not started: {', '.join(s.run_name for s in left)} (train them with --only, "
                         "or run the experiment again)")
    return outcomes


def _parallel_groups(runs: list[RunSpec]) -> list[list[RunSpec]]:
    """Runs in order; the seeds of a variant with training.parallel_seeds form one group."""
    groups: list[list[RunSpec]] = []
    for spec in runs:
        last = groups[-1] if groups else None
        if (last and spec.training.parallel_seeds and last[0].variant == spec.variant
                and last[0].training.parallel_seeds):
            last.append(spec)
        else:
            groups.append([spec])
    return groups


def _run_seeds_together(specs: list[RunSpec], datasets, output_dir, reporter, index, total,
                        interrupt=None) -> list[RunOutcome]:
    """All seeds of one variant in one vectorized program, each into its own run folder."""
    from . import models
    from .train.checkpoint import save_model
    from .train.loop import fit_seeds

    if not models.is_network(specs[0].model):
        return [run_one(spec, datasets.get(spec), output_dir, reporter, index + i, total)
                for i, spec in enumerate(specs)]
    data = [datasets.get(spec) for spec in specs]
    built = [_build(spec, d) for spec, d in zip(specs, data)]
    folders = []
    for i, spec in enumerate(specs):
        folder = RunFolder.create(output_dir, spec.experiment, spec.run_name)
        folder.write_config(dump_run_config(spec))
        folder.set_status("running", parallel_seeds=[s.seed for s in specs])
        reporter.run_started(spec, index + i, total, folder.path, _count_params(built[i]))
        folders.append(folder)

    def writer(folder, spec):
        def on_epoch(record):
            folder.append_metrics(record.as_json())
            reporter.epoch_ended(spec, record)
        return [on_epoch]

    not_resumable = "interrupted by the user (Ctrl-C); parallel seeds do not resume"
    try:
        results = fit_seeds(built, data, specs, [writer(f, s) for f, s in zip(folders, specs)],
                            should_stop=interrupt or (lambda: False))
    except KeyboardInterrupt:
        for folder in folders:
            folder.set_status("interrupted", reason=not_resumable)
        raise
    except Exception as e:
        message = str(e) if isinstance(e, NnxError) else f"{type(e).__name__}: {e}"
        for folder in folders:
            folder.set_status("failed", reason=message)
        return [RunOutcome(spec, folder.path, "failed", error=message) for spec, folder in zip(specs, folders)]
    if results[0].interrupted:
        for folder in folders:
            folder.set_status("interrupted", reason=not_resumable)
        return [RunOutcome(spec, folder.path, "interrupted",
                           error="parallel seeds do not resume: train the variant again")
                for spec, folder in zip(specs, folders)]
    outcomes = []
    for spec, dataset, folder, result in zip(specs, data, folders, results):
        save_model(folder.checkpoint_dir, result.model)
        summary = {**_summary_header(spec, dataset, folder), **_network_summary(result), "parallel_seeds": True}
        folder.write_summary(summary)
        folder.set_status("completed")
        outcomes.append(RunOutcome(spec, folder.path, "completed", summary))
    return outcomes


def _run_guarded(spec, datasets, output_dir, reporter, index, total, interrupt, debug, first,
                 devices=None) -> RunOutcome:
    """One run; its failure is recorded in its folder and reported, and the experiment goes on."""
    try:
        outcome = run_one(spec, datasets.get(spec), output_dir, reporter, index, total, interrupt, devices)
    except NnxError as e:
        if e.exit_code == 2 and first and getattr(e, "folder", None) is None:
            raise  # a config problem found while building: nothing has run yet
        outcome = RunOutcome(spec, getattr(e, "folder", None), "failed", error=str(e))
    except Exception as e:  # a bug or a backend failure: record it, go on with the other runs
        if debug:
            traceback.print_exc()
        outcome = RunOutcome(spec, getattr(e, "folder", None), "failed", error=f"{type(e).__name__}: {e}")
    return outcome


def _check_networks(specs: list[RunSpec], datasets, devices=None) -> None:
    """Before the first run: every distinct network is built abstractly (nothing allocated), so a
    model its data cannot take (a CNN pooling a 1x1 map) stops the experiment before any work,
    and `--devices` is checked against the machine and each batch size."""
    from . import models
    from .params import abstract_model
    from .train.devices import one_device

    if not one_device(devices):
        grouped = [group[0].variant for group in _parallel_groups(specs) if len(group) > 1]
        if grouped:
            raise ConfigError(f"--devices {devices} and training.parallel_seeds (variant {grouped[0]}) do not "
                              "combine: parallel seeds train on one device; drop one of the two")
    seen = set()
    for spec in specs:
        if not models.is_network(spec.model):
            continue
        dataset = datasets.get(spec)
        _check_devices(spec, dataset, devices)
        key = (json.dumps(spec.model.model_dump(mode="json"), sort_keys=True), repr(dataset.info))
        if key not in seen:
            seen.add(key)
            try:
                abstract_model(spec.model, dataset.info)
            except ConfigError as e:
                raise ConfigError(f"variant {spec.variant}: {e}") from None


def _check_devices(spec: RunSpec, dataset, devices) -> None:
    """A --devices the machine or the batch size cannot serve is a usage error before anything is written."""
    from . import models
    from .train.devices import one_device, placement

    if one_device(devices) or not models.is_network(spec.model):
        return

    placement(devices, spec.training.batch_size, len(dataset.x_train))


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


def run_one(spec: RunSpec, dataset, output_dir: Path, reporter: Reporter, index: int = 1, total: int = 1,
            interrupt: InterruptFlag | None = None, devices: int | str | None = None) -> RunOutcome:
    model = _build(spec, dataset)
    folder = RunFolder.create(output_dir, spec.experiment, spec.run_name)
    folder.write_config(dump_run_config(spec))
    folder.set_status("running")
    return _execute(spec, dataset, model, folder, reporter, index, total, interrupt, resume=False, devices=devices)


def _execute(spec, dataset, model, folder: RunFolder, reporter, index, total, interrupt, resume: bool,
             devices: int | str | None = None) -> RunOutcome:
    from . import models

    reporter.run_started(spec, index, total, folder.path, _count_params(model))
    try:
        if models.is_network(spec.model):
            summary = _train_network(spec, dataset, model, folder, reporter, interrupt, resume, devices)
        else:
            summary = _fit_estimator(spec, dataset, model)
        if summary is None:  # interrupted between epochs: resumable
            folder.set_status("interrupted", reason="interrupted by the user (Ctrl-C)",
                              resume=f"nnx train --resume {folder.path}")
            return RunOutcome(spec, folder.path, "interrupted", error=f"resume with: nnx train --resume {folder.path}")
        summary = {**_summary_header(spec, dataset, folder), **summary}
        folder.write_summary(summary)
        folder.set_status("completed")
        return RunOutcome(spec, folder.path, "completed", summary)
    except KeyboardInterrupt:
        folder.set_status("interrupted", reason="stopped at once by a second Ctrl-C",
                          resume=f"nnx train --resume {folder.path}")
        raise
    except Exception as e:
        message = str(e) if isinstance(e, NnxError) else f"{type(e).__name__}: {e}"
        folder.set_status("failed", reason=message)
        error = e if isinstance(e, NnxError) else RunError(message)
        error.folder = folder.path
        if error is e:
            raise
        raise error from e


def _folder_to_resume(run_dir: str | Path):
    from .runs import read_run

    folder = RunFolder(Path(run_dir))
    if not (folder.path / "config.yaml").is_file():
        raise ConfigError(f"--resume {run_dir}: not a run folder (no config.yaml); give a folder under outputs/")
    record = read_run(folder.path)
    if isinstance(record.config, dict) and "ensemble" in record.config:
        raise ConfigError(f"--resume {run_dir}: an ensemble (nnx ensemble) has nothing to train; "
                          "resume its members, then run nnx ensemble again")
    return folder, record


def describe_resume(run_dir: str | Path) -> str:
    """What `resume_run` would do, without doing it (`nnx train --resume RUN --dry-run`)."""
    _, record = _folder_to_resume(run_dir)
    if record.state == "completed":
        return f"{run_dir}: completed; --resume has nothing to do"
    epochs = [m["epoch"] for m in record.metrics if isinstance(m, dict) and isinstance(m.get("epoch"), int)]
    training = record.config.get("training") if isinstance(record.config, dict) else None
    planned = training.get("epochs", "?") if isinstance(training, dict) else "?"
    return (f"{run_dir}: {record.state}, {max(epochs, default=0)} of {planned} epochs recorded; "
            "--resume would continue from its last complete checkpoint")


def resume_run(run_dir: str | Path, overrides=(), force: bool = False, experiment: Experiment | None = None,
               data_dir=None, reporter: Reporter | None = None, devices: int | str | None = None) -> RunOutcome:
    """Continue a run from its last complete epoch, in the same folder."""
    from .config import apply_overrides, load_run_config

    reporter = reporter or SilentReporter()
    folder, record = _folder_to_resume(run_dir)
    saved = load_run_config(folder.path / "config.yaml")
    if record.state == "completed":
        return RunOutcome(saved, folder.path, "completed", record.summary, error="already completed; nothing to do")
    if record.state == "running" and not force:
        who = f" (pid {record.status.get('pid')} on {record.status.get('host')})" if record.status.get("pid") else ""
        raise ConfigError(f"--resume {run_dir}: the run is still running{who}; stop it first (Ctrl-C), "
                          "or pass --force if its process is gone")
    wanted = saved
    if experiment is not None:
        matches = [r for r in experiment.runs if r.variant == saved.variant and r.seed == saved.seed]
        if not matches:
            raise ConfigError(f"--resume: the experiment file has no run {saved.run_name} (variant "
                              f"{saved.variant}, seed {saved.seed})")
        wanted = matches[0]
    wanted = apply_overrides(wanted, overrides)
    changed = _comparable(wanted) != _comparable(saved)
    if changed and not force:
        raise ConfigError(f"--resume {run_dir}: the config differs from the run's config.yaml "
                          f"({', '.join(_differences(saved, wanted))}); pass --force to resume with the new config")
    done = _last_checkpoint_epoch(folder)
    if wanted.training.epochs < done:
        raise ConfigError(f"--resume {run_dir}: training.epochs {wanted.training.epochs} is fewer than the {done} "
                          "epochs already done; resume with at least as many")
    dataset = _DataCache(data_dir).get(wanted)
    _check_devices(wanted, dataset, devices)
    if changed:  # only once every check has passed: a refused resume leaves the folder as it was
        folder.write_config(dump_run_config(wanted))
    if record.metrics:
        _truncate_metrics(folder, done)
    folder.set_status("running", resumed=True)
    model = _build(wanted, dataset)
    with InterruptFlag(reporter) as interrupt:
        return _execute(wanted, dataset, model, folder, reporter, 1, 1, interrupt, resume=True, devices=devices)


def _comparable(spec: RunSpec) -> dict:
    return spec.model_dump(mode="json")


def _differences(a: RunSpec, b: RunSpec) -> list[str]:
    from .config import flatten

    fa, fb = flatten(_comparable(a)), flatten(_comparable(b))
    return [f"{k}: {fa.get(k)!r} -> {fb.get(k)!r}" for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]


def _last_checkpoint_epoch(folder: RunFolder) -> int:
    from .train.checkpoint import TrainCheckpoints

    store = TrainCheckpoints(folder.path / "checkpoints")
    try:
        return store.latest_epoch() or 0
    finally:
        store.close()


def _truncate_metrics(folder: RunFolder, last_epoch: int) -> None:
    """Keep the metrics of the epochs the checkpoint holds; drop later (or torn) lines."""
    from .runs import write_atomic

    path = folder.path / "metrics.jsonl"
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line)["epoch"] <= last_epoch:
                kept.append(line)
        except (ValueError, KeyError, TypeError):
            continue
    write_atomic(path, "".join(line + "\n" for line in kept))


class InterruptFlag:
    """Ctrl-C once: finish the epoch, save, stop. Ctrl-C twice: stop at once (KeyboardInterrupt)."""

    def __init__(self, reporter: Reporter,
                 message: str = "Ctrl-C: finishing this epoch and saving; press Ctrl-C again to stop at once"):
        self.reporter, self.message, self.requested, self._previous = reporter, message, False, None

    def __enter__(self) -> InterruptFlag:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        import signal

        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        signal.signal(signal.SIGINT, self._second)
        self.reporter.message(self.message)

    def _second(self, signum, frame) -> None:
        raise KeyboardInterrupt

    def __call__(self) -> bool:
        return self.requested

    def __exit__(self, *exc) -> None:
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


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


def _train_network(spec: RunSpec, dataset, model, folder: RunFolder, reporter: Reporter,
                   interrupt=None, resume: bool = False, devices: int | str | None = None) -> dict | None:
    from .train.checkpoint import TrainCheckpoints, save_model
    from .train.loop import fit

    def on_epoch(record):
        folder.append_metrics(record.as_json())
        reporter.epoch_ended(spec, record)

    # Per-epoch checkpoints (and so --resume) are single-host: across hosts, each process would
    # need the others' Orbax barriers on a shared disk, which a local run folder is not.
    import jax

    checkpoints = TrainCheckpoints(folder.path / "checkpoints") if jax.process_count() == 1 else None
    result = fit(model, dataset, spec, callbacks=[on_epoch], checkpoints=checkpoints, resume=resume,
                 should_stop=interrupt or (lambda: False), devices=devices)
    if result.interrupted:
        return None
    save_model(folder.checkpoint_dir, result.model)
    return _network_summary(result)


def _network_summary(result) -> dict:
    return {
        "params": _count_params(result.model),
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "seconds": round(result.seconds, 3),
        "validation": result.validation,
        "test": result.test,
    }


def _fit_estimator(spec: RunSpec, dataset, estimator) -> dict:
    import numpy as np

    from .train import tasks

    task = tasks.task_for(dataset.info.task)  # estimators fit their own loss
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
