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
from typing import Protocol

from . import __version__
from .config import Experiment, RunSpec, dump_run_config
from .errors import ConfigError, NnxError, RunError
from .record import RunFolder, Summary, ensure_writable
from .show.confusion import record_run as record_classification


class Reporter(Protocol):
    """What the runner tells its user; the CLI implements it with Rich."""

    def run_started(self, spec: RunSpec, index: int, total: int, folder: Path, params: int,
                    epochs: int) -> None: ...
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


def _searching_data_dir(fn):
    """Run `fn` with its `data_dir` also searched for files a model family asks for without one
    (pretrained weights: model.weights: imagenet), as for the data."""
    import functools
    import inspect

    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from .data import store

        with store.searching(signature.bind(*args, **kwargs).arguments.get("data_dir")):
            return fn(*args, **kwargs)
    return wrapper


@_searching_data_dir
def run_experiment(experiment: Experiment, output_dir: str | Path = "outputs", data_dir=None,
                   reporter: Reporter | None = None, debug: bool = False,
                   devices: int | str | None = None) -> list[RunOutcome]:
    reporter = reporter or SilentReporter()
    output_dir = Path(output_dir)
    ensure_writable(output_dir, experiment.name)
    datasets = _DataCache(data_dir)
    # Load every data set the runs need before the first run starts: a missing file is a user
    # error that must cost seconds and leave no run folder behind.
    _check_runs(experiment.runs, datasets, devices)
    outcomes: list[RunOutcome] = []
    total = len(experiment.runs)
    with InterruptFlag(reporter) as interrupt:
        for group in parallel_groups(experiment.runs):
            ended = _run_group(group, datasets, output_dir, reporter, len(outcomes) + 1, total, interrupt,
                               debug, devices=devices)
            for outcome in ended:
                reporter.run_ended(outcome)
                outcomes.append(outcome)
            # Ctrl-C stops the experiment whichever epoch it came in: a run that had only its last
            # epoch left completes, and the remaining runs are not started.
            if interrupt() or any(o.status == "interrupted" for o in ended) or len(ended) < len(group):
                break
    started = {id(o.spec) for o in outcomes}
    left = [s for s in experiment.runs if id(s) not in started]
    if left:
        reporter.message(f"not started: {', '.join(s.run_name for s in left)} (train them with --only, "
                         "or run the experiment again)")
        if not any(o.status == "interrupted" for o in outcomes):
            outcomes.append(RunOutcome(left[0], None, "interrupted", error=f"stopped by {interrupt.cause} before "
                                       f"{', '.join(s.run_name for s in left)}; train them with --only"))
    return outcomes


def parallel_groups(runs: list[RunSpec]) -> list[list[RunSpec]]:
    """The runs in groups trained together, in the order of each group's first run: the seeds of a
    variant with training.parallel_seeds; with sweep.vectorize, the settings and seeds of a
    variant's sweep that differ only in numbers (`_vectorized_key`). Every other run alone."""
    groups: dict[tuple, list[RunSpec]] = {}
    for i, spec in enumerate(runs):
        if spec.sweep is not None and spec.sweep.vectorize:
            key = ("sweep", spec.sweep.variant, _vectorized_key(spec))
        elif spec.training.parallel_seeds:
            key = ("seeds", spec.variant)
        else:
            key = ("alone", i)
        groups.setdefault(key, []).append(spec)
    return list(groups.values())


_parallel_groups = parallel_groups  # its name before sweeps (nnx.launch.plan imports it so)


def _vectorized_key(spec: RunSpec) -> str:
    """A run's config less the numbers one compiled program takes per run (nnx.train.loop.fit_all):
    seed, learning rate, l2/l1 weights, weight decay (whether it is on stays), dropout rates (whether
    each drops at all stays) and the divergence factor. Runs with one key share shapes and program."""
    from .train.optim import weight_decay

    config = spec.model_dump(mode="json", exclude={"variant", "seed", "sweep"})
    config["training"]["optimizer"].pop("learning_rate")
    config["training"].pop("divergence_factor")
    config["regularization"] = {"weight_decay": weight_decay(spec.training, spec.regularization) > 0}
    for key, value in list(config["model"].items()):
        if "dropout" in key:
            config["model"][key] = [r > 0 for r in value] if isinstance(value, list) else value > 0
    return json.dumps(config, sort_keys=True)


def _run_group(specs: list[RunSpec], datasets, output_dir, reporter, index, total, interrupt, debug=False,
               devices=None) -> list[RunOutcome]:
    """One run, or the seeds of one variant trained together; each into its own run folder. A
    failure is recorded in the folders and reported, and the experiment goes on."""
    from . import models
    from .data.preprocessing import record

    data = [datasets.get(spec) for spec in specs]
    built = [models.make(spec.model, d.info, spec.seed) for spec, d in zip(specs, data)]
    # What `nnx predict` applies to new inputs, found before any folder is made
    records = [record(spec.data, d) for spec, d in zip(specs, data)]
    outcomes: list[RunOutcome] = []
    for part in _same_program(built):
        if outcomes and interrupt():
            break  # the runs not started are named by run_experiment
        folders = []
        for i in part:
            spec, model = specs[i], built[i]
            folder = RunFolder.create(output_dir, spec.experiment, spec.run_name)
            folder.write_config(dump_run_config(spec))
            if records[i] is not None:
                folder.write_preprocessing(records[i])
            together = ({"parallel_seeds": [specs[j].seed for j in part]} if all(specs[j].variant == spec.variant
                        for j in part) else {"trained_with": [specs[j].run_name for j in part]}) if len(part) > 1 else {}
            folder.set_status("running", **together)
            folders.append(folder)
            reporter.run_started(spec, index + len(outcomes) + len(folders) - 1, total, folder.path,
                                 model.num_params(), spec.training.epochs if model.trains_in_epochs else 0)
        outcomes += _fit_group([specs[i] for i in part], [data[i] for i in part], [built[i] for i in part], folders,
                               reporter, interrupt, resume=False, debug=debug, devices=devices)
    return outcomes


def _same_program(built) -> list[list[int]]:
    """The indices of a group's models split by structure: only networks of one graph (layers,
    shapes, which dropout layers drop at all: a family whose dropout rate is a constant of its
    program, not state, differs in it) train in one program; the rest one by one."""
    if len(built) < 2 or not built[0].trains_in_epochs:
        return [[i] for i in range(len(built))]
    from flax import nnx

    parts: dict = {}
    for i, model in enumerate(built):
        parts.setdefault(nnx.graphdef(model.impl), []).append(i)
    return list(parts.values())


def _fit_group(specs, data, built, folders, reporter, interrupt, resume: bool, debug=False,
               devices=None) -> list[RunOutcome]:
    def on_epoch(folder, spec):
        def record(epoch_record):
            folder.append_metrics(epoch_record.as_json())
            reporter.epoch_ended(spec, epoch_record)
        return record

    def on_steps(spec):  # progress inside long epochs, where the reporter shows it (a terminal)
        if not getattr(reporter, "shows_steps", False):
            return None
        return lambda epoch, done, total: reporter.steps_done(spec, epoch, done, total)

    hooks = [{"callbacks": [on_epoch(f, s)], "checkpoint_dir": f.path / "checkpoints", "progress": on_steps(s)}
             for f, s in zip(folders, specs)]
    try:
        results = type(built[0]).fit_together(built, data, specs, hooks, should_stop=interrupt or (lambda: False),
                                              resume=resume, devices=devices)
    except KeyboardInterrupt:
        for folder in folders:
            folder.set_status("interrupted", reason="stopped at once by a second Ctrl-C",
                              resume=f"nnx train --resume {folder.path}")
        raise
    except Exception as e:  # a bug or a backend failure: record it, go on with the other runs
        if debug and not isinstance(e, NnxError):
            traceback.print_exc()
        message = str(e) if isinstance(e, NnxError) else f"{type(e).__name__}: {e}"
        for folder in folders:
            folder.set_status("failed", reason=message)
        return [RunOutcome(spec, folder.path, "failed", error=message) for spec, folder in zip(specs, folders)]
    outcomes = []
    for spec, dataset, model, folder, result in zip(specs, data, built, folders, results):
        if result.error is not None:  # this seed alone failed; the others of its group went on
            folder.set_status("failed", reason=result.error)
            outcomes.append(RunOutcome(spec, folder.path, "failed", error=result.error))
            continue
        if result.interrupted:  # between epochs: resumable
            folder.set_status("interrupted", reason=getattr(interrupt, "reason", "interrupted"),
                              signal=getattr(interrupt, "signal", None), resume=f"nnx train --resume {folder.path}")
            outcomes.append(RunOutcome(spec, folder.path, "interrupted",
                                       error=f"resume with: nnx train --resume {folder.path}"))
            continue
        model.save(folder.checkpoint_dir)
        record_classification(folder.path, model, dataset)  # classification.json, for classifiers
        summary = _summary(spec, dataset, folder, model, result, together=len(specs) > 1).to_json()
        folder.write_summary(summary)
        folder.set_status("completed")
        outcomes.append(RunOutcome(spec, folder.path, "completed", summary))
    return outcomes


@_searching_data_dir
def train_prepared(paths: list[Path], data_dir=None, reporter: Reporter | None = None,
                   devices: int | str | None = None, interrupt: InterruptFlag | None = None) -> list[RunOutcome]:
    """Train run folders a launcher prepared (config.yaml written, status queued): what one
    `--jobs` process or one SLURM task does, through the same path as `nnx train`. A folder that
    has a checkpoint resumes from it (a requeued task, `--continue`), alone; fresh folders (the
    seeds of a variant with parallel_seeds) train together; completed ones are left as they are."""
    from . import models
    from .config import load_run_config
    from .record import read_run

    reporter = reporter or SilentReporter()
    folders = [RunFolder(Path(p)) for p in paths]
    done = {f.path for f in folders if read_run(f.path).state == "completed"}
    todo = [f for f in folders if f.path not in done]
    outcomes = [RunOutcome(load_run_config(f.path / "config.yaml"), f.path, "completed", read_run(f.path).summary)
                for f in folders if f.path in done]
    with interrupt or InterruptFlag(reporter) as flag:
        started = [f for f in todo if _last_checkpoint_epoch(f) > 0]
        if started:
            for folder in todo:
                if flag():
                    break
                try:
                    outcomes.append(resume_run(folder.path, force=True, data_dir=data_dir, reporter=reporter,
                                               devices=devices, interrupt=flag))
                except RunError as e:
                    outcomes.append(RunOutcome(load_run_config(folder.path / "config.yaml"), folder.path, "failed",
                                               error=str(e)))
                reporter.run_ended(outcomes[-1])
            return outcomes
        if not todo:
            return outcomes
        specs = [load_run_config(f.path / "config.yaml") for f in todo]
        datasets = _DataCache(data_dir)
        data = [datasets.get(spec) for spec in specs]
        built = [models.make(spec.model, d.info, spec.seed) for spec, d in zip(specs, data)]
        together = {"parallel_seeds": [s.seed for s in specs]} if len(specs) > 1 else {}
        for i, (spec, model, folder) in enumerate(zip(specs, built, todo)):
            (folder.path / "metrics.jsonl").unlink(missing_ok=True)  # a start killed before its first checkpoint
            folder.set_status("running", **together)
            reporter.run_started(spec, i + 1, len(specs), folder.path, model.num_params(),
                                 spec.training.epochs if model.trains_in_epochs else 0)
        ended = _fit_group(specs, data, built, todo, reporter, flag, resume=False, devices=devices)
        for outcome in ended:
            reporter.run_ended(outcome)
        return outcomes + ended


def _check_runs(specs: list[RunSpec], datasets, devices=None) -> None:
    """Before the first run: every data set is loaded, and every distinct model built (networks
    abstractly, nothing allocated), so a model its data cannot take (a CNN pooling a 1x1 map)
    stops the experiment before any work; `--devices` is checked against the machine and each
    batch size."""
    from . import models
    from .train.devices import one_device

    if not one_device(devices):
        grouped = [group[0] for group in parallel_groups(specs) if len(group) > 1]
        if grouped:
            what = ("sweep.vectorize" if grouped[0].sweep is not None and grouped[0].sweep.vectorize
                    else f"training.parallel_seeds (variant {grouped[0].variant})")
            raise ConfigError(f"--devices {devices} and {what} do not combine: runs trained together train on "
                              "one device; drop one of the two")
    seen = set()
    for spec in specs:
        dataset = datasets.get(spec)
        key = (json.dumps(spec.model.model_dump(mode="json"), sort_keys=True), repr(dataset.info),
               spec.training.batch_size, len(dataset.x_train))
        if key not in seen:
            seen.add(key)
            try:
                models.family(spec.model).check(spec.model, dataset.info, spec.training, len(dataset.x_train),
                                                devices)
            except ConfigError as e:
                raise ConfigError(f"variant {spec.variant}: {e}") from None


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


def _folder_to_resume(run_dir: str | Path):
    from .record import read_run

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


@_searching_data_dir
def resume_run(run_dir: str | Path, overrides=(), force: bool = False, experiment: Experiment | None = None,
               data_dir=None, reporter: Reporter | None = None, devices: int | str | None = None,
               interrupt: InterruptFlag | None = None) -> RunOutcome:
    """Continue a run from its last complete epoch, in the same folder. `interrupt`: a flag the caller
    already holds (a launcher's task resuming several folders); by default one of its own."""
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
    datasets = _DataCache(data_dir)
    _check_runs([wanted], datasets, devices)  # loads the data set; the run below reuses it
    dataset = datasets.get(wanted)
    if changed:  # only once every check has passed: a refused resume leaves the folder as it was
        folder.write_config(dump_run_config(wanted))
    if changed or not folder.has_preprocessing():  # a folder from before preprocessing.json gets one
        from .data.preprocessing import record as preprocessing_record

        preprocessing = preprocessing_record(wanted.data, dataset)
        if preprocessing is not None:
            folder.write_preprocessing(preprocessing)
    if record.metrics:
        _truncate_metrics(folder, done)
    folder.set_status("running", resumed=True)
    from . import models

    model = models.make(wanted.model, dataset.info, wanted.seed)
    reporter.run_started(wanted, 1, 1, folder.path, model.num_params(),
                         wanted.training.epochs if model.trains_in_epochs else 0)
    with interrupt or InterruptFlag(reporter) as flag:
        outcome = _fit_group([wanted], [dataset], [model], [folder], reporter, flag, resume=True,
                             devices=devices)[0]
    if outcome.status == "failed":
        raise RunError(outcome.error)
    return outcome


def _comparable(spec: RunSpec) -> dict:
    return spec.model_dump(mode="json")


def _differences(a: RunSpec, b: RunSpec) -> list[str]:
    from .record.metrics import flatten

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
    from .record import write_atomic

    path = folder.path / "metrics.jsonl"
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line)["epoch"] <= last_epoch:
                kept.append(line)
        except (ValueError, KeyError, TypeError):
            continue
    write_atomic(path, "".join(line + "\n" for line in kept))


# The signals that ask for a stop at the end of the epoch, with a saved, resumable run: Ctrl-C, and
# those a batch scheduler sends before it kills a job. SLURM sends SIGTERM at the time limit, on
# preemption and on scancel, then SIGKILL after KillWait (30 s by default); `sbatch
# --signal=USR1@120` (or `B:USR1@120` through a batch script) sends SIGUSR1 that long before;
# submitit asks for SIGUSR2 (and requeues a task on it).
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGUSR1", "SIGUSR2")


def stop_signals() -> tuple:
    """The stop signals this system has (no SIGUSR1/2 on Windows), as signal numbers."""
    import signal

    return tuple(getattr(signal, name) for name in STOP_SIGNALS if hasattr(signal, name))


class InterruptFlag:
    """Ctrl-C, SIGTERM, SIGUSR1 or SIGUSR2 once: finish the epoch (or the unit of work), save, stop;
    the run is interrupted and resumable. Then Ctrl-C: stop at once (KeyboardInterrupt). A repeated
    SIGTERM or SIGUSR changes nothing: a scheduler that stops waiting sends SIGKILL, and the last
    saved epoch is what a resume starts from either way. `signum` keeps the first signal, for a
    launcher to hand it on afterwards (submitit requeues a SLURM task on SIGUSR2); the previous
    handlers are back after the block, which code it guards may enter again."""

    def __init__(self, reporter: Reporter, action: str = "finishing this epoch and saving"):
        self.reporter, self.action = reporter, action
        self.signal: str | None = None  # the first stop signal's name (SIGINT, SIGTERM, SIGUSR1, SIGUSR2)
        self.signum: int | None = None
        self._previous: dict = {}
        self._depth = 0

    @property
    def requested(self) -> bool:
        return self.signal is not None

    @property
    def cause(self) -> str:
        """What stopped the run, for messages: Ctrl-C, SIGTERM, SIGUSR1."""
        return "Ctrl-C" if self.signal in (None, "SIGINT") else self.signal

    @property
    def reason(self) -> str:
        """status.json's reason for an interrupted run."""
        return "interrupted by the user (Ctrl-C)" if self.cause == "Ctrl-C" else f"interrupted by {self.cause}"

    def __enter__(self) -> InterruptFlag:
        import signal
        import threading

        self._depth += 1  # a flag can be entered again by the code it guards (a task resuming its runs)
        if self._depth == 1 and threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in stop_signals()}
        return self

    def _handle(self, signum, frame) -> None:
        import signal

        name = signal.Signals(signum).name
        if self.requested:
            if name == "SIGINT":
                raise KeyboardInterrupt
            return
        self.signal, self.signum = name, signum
        again = "; press Ctrl-C again to stop at once" if name == "SIGINT" else ""
        self.reporter.message(f"{self.cause}: {self.action}{again}")

    def __call__(self) -> bool:
        return self.requested

    def __exit__(self, *exc) -> None:
        import signal

        self._depth -= 1
        if self._depth == 0:
            for s, previous in self._previous.items():
                if previous is not None:
                    signal.signal(s, previous)
            self._previous = {}


def _summary(spec: RunSpec, dataset, folder: RunFolder, model, result, together: bool) -> Summary:
    import jax

    device = jax.devices()[0]
    return Summary(
        experiment=spec.experiment, run=folder.path.name, variant=spec.variant, seed=spec.seed,
        model=spec.model.type, task=dataset.info.task, params=model.num_params(),
        epochs=result.epochs, best_epoch=result.best_epoch, stopped_early=result.stopped_early,
        closed_form=not model.trains_in_epochs, parallel_seeds=together, seconds=round(result.seconds, 3),
        validation=result.validation, test=result.test,
        data={"name": dataset.name, **dataset.sizes()}, data_info=dataclasses.asdict(dataset.info),
        data_meta=dataset.meta or None,  # e.g. text preprocessing
        device=f"{device.platform}:{device.device_kind}",
        versions={"nnx": __version__, "jax": jax.__version__},
        finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        extras=model.summary_extras(),
    )
