"""An experiment through a launcher: plan the tasks, write their folders, run or submit them,
and read back what each run folder says. The CLI's `--jobs`, `--continue` and `--launcher` call
`launch_experiment`; everything it does is callable from Python."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import Experiment, load_run_config
from ..record import ensure_writable, read_run
from ..runner import RunOutcome, _check_runs, _DataCache
from . import plan as planning
from .monitor import Monitor


@dataclass
class Launched:
    outcomes: list[RunOutcome]
    experiment_dir: Path
    skipped: list[Path] = field(default_factory=list)
    failed_before: list[tuple[Path, str]] = field(default_factory=list)
    jobs: list = field(default_factory=list)  # submitit jobs (SLURM)

    @property
    def folders(self) -> list[Path]:
        return [o.folder for o in self.outcomes if o.folder is not None]


def launch_experiment(experiment: Experiment, output_dir="outputs", *, jobs: int = 1, launcher: str = "local",
                      continue_dir=None, force: bool = False, wait: bool = False, data_dir=None,
                      device: str = "auto", devices: str | None = None, reporter=None, quiet: bool = False,
                      wait_timeout_s: float | None = None) -> Launched:
    from ..runner import SilentReporter

    reporter = reporter or SilentReporter()
    output_dir = Path(continue_dir).parent if continue_dir else Path(output_dir)
    ensure_writable(output_dir, experiment.name)
    # Every data set loads and every model builds before any folder is written or job started.
    _check_runs(experiment.runs, _DataCache(data_dir), devices)
    result = planning.plan(experiment, output_dir, continue_dir, force)
    if continue_dir:
        reporter.message(f"--continue {continue_dir}: {len(result.skipped)} completed, "
                         f"{sum(t.resumed for t in result.tasks)} to resume, "
                         f"{sum(len(t.specs) for t in result.tasks if not t.resumed)} to start"
                         + (f", {len(result.failed)} failed (left as they are; --resume one to retry)"
                            if result.failed else ""))
    planning.write_folders(result, launcher)
    launched = Launched([], result.experiment_dir, list(result.skipped), list(result.failed))
    title = f"{experiment.name}: {sum(len(t.folders) for t in result.tasks)} run(s)"
    if launcher == "slurm":
        from . import slurm

        launched.jobs = slurm.submit(result, experiment.launcher, experiment.name, data_dir, devices)
        if launched.jobs:
            array = str(launched.jobs[0].job_id).split("_")[0]
            reporter.message(f"submitted SLURM job array {array} ({len(launched.jobs)} tasks) from "
                             f"{result.experiment_dir}; nnx compare {result.experiment_dir} shows them")
        if wait:
            slurm.wait(launched.jobs, result, Monitor(title + " on SLURM", quiet=quiet), timeout_s=wait_timeout_s)
    elif jobs > 1:
        from .local import run_jobs

        run_jobs(result, jobs, data_dir, device, devices, Monitor(title + f", {jobs} jobs", quiet=quiet), reporter)
    else:
        _in_process(result, data_dir, devices, reporter)
    launched.outcomes = [outcome_of(f) for f in result.folders]
    return launched


def _in_process(result: planning.Plan, data_dir, devices, reporter) -> None:
    """`--continue` without --jobs: the tasks one after another in this process."""
    from ..runner import InterruptFlag, train_prepared

    with InterruptFlag(reporter) as flag:
        for task in result.tasks:
            if flag():
                break
            train_prepared(task.folders, data_dir=data_dir, reporter=reporter, devices=devices, interrupt=flag)


def outcome_of(folder: Path) -> RunOutcome:
    """What a run folder says, as the runner's outcome: completed, failed, or interrupted for
    everything that has not ended (queued, running on SLURM, interrupted, crashed)."""
    record = read_run(folder)
    spec = load_run_config(folder / "config.yaml")
    state = record.state
    reason = (record.status or {}).get("reason") if isinstance(record.status, dict) else None
    if state == "completed":
        return RunOutcome(spec, folder, "completed", record.summary)
    if state == "failed":
        return RunOutcome(spec, folder, "failed", error=str(reason or "failed"))
    return RunOutcome(spec, folder, "interrupted" if state != "queued" else "queued", error=reason or state)
