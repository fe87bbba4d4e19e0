"""Which runs of an experiment a launcher starts, resumes or skips, and their folders.

A task is one run, or the seeds of a variant that train together (training.parallel_seeds), as
in `nnx train`. With `--continue FOLDER`, each run of the experiment is matched to its folder
there by variant and seed: completed runs are skipped, interrupted, crashed and queued ones
resume from their checkpoints (each alone), failed ones are left for `--resume` (a failure is
usually a setting, which training again would repeat), and runs without a folder start afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import Experiment, RunSpec, dump_run_config
from ..errors import ConfigError
from ..record import RunFolder, is_run_folder, read_run
from ..record.folder import safe_name

RESUMABLE = ("interrupted", "crashed", "queued", "incomplete")


@dataclass
class Task:
    specs: list[RunSpec]
    folders: list[Path] = field(default_factory=list)
    resumed: bool = False  # its folders hold an earlier attempt

    @property
    def name(self) -> str:
        return self.specs[0].run_name if len(self.specs) == 1 else f"{self.specs[0].variant} (seeds together)"


@dataclass
class Plan:
    tasks: list[Task]
    experiment_dir: Path
    created: bool = False  # write_folders made the experiment's folder
    skipped: list[Path] = field(default_factory=list)        # completed before
    failed: list[tuple[Path, str]] = field(default_factory=list)  # failed before, left as they are

    @property
    def folders(self) -> list[Path]:
        return [f for t in self.tasks for f in t.folders]


def plan(experiment: Experiment, output_dir: str | Path, continue_dir: str | Path | None = None,
         force: bool = False) -> Plan:
    """The tasks of `experiment`; nothing is written (see `write_folders`)."""
    from ..runner import _comparable, _differences, _parallel_groups

    if continue_dir is None:
        return Plan([Task(group) for group in _parallel_groups(experiment.runs)],
                    Path(output_dir) / safe_name(experiment.name))
    continue_dir = Path(continue_dir)
    existing = _existing_runs(continue_dir, experiment.name)
    result = Plan([], continue_dir)
    for group in _parallel_groups(experiment.runs):
        fresh = []
        for spec in group:
            folder = existing.get((spec.variant, spec.seed))
            if folder is None:
                fresh.append(spec)
                continue
            record = read_run(folder)
            state = record.state
            if state == "completed":
                result.skipped.append(folder)
            elif state == "failed":
                result.failed.append((folder, str((record.status or {}).get("reason", "failed"))))
            elif (state == "running" or _in_slurm_queue(record.status)) and not force:
                raise ConfigError(f"--continue {continue_dir}: run {spec.run_name} is still {state} ({folder}); "
                                  "wait for it, stop it (scancel), or pass --force if its process is gone")
            else:
                from ..config import load_run_config

                saved = load_run_config(folder / "config.yaml")
                if _comparable(saved) != _comparable(spec) and not force:
                    raise ConfigError(f"--continue {continue_dir}: run {spec.run_name} was made with another config "
                                      f"({', '.join(_differences(saved, spec)[:3])}); pass --force to resume it "
                                      "with its own config.yaml")
                result.tasks.append(Task([saved], [folder], resumed=True))
        if fresh:
            result.tasks.append(Task(fresh))
    return result


def _in_slurm_queue(status) -> bool:
    """A run queued as a SLURM task whose job is still in SLURM's queue (pending or running)."""
    job = status.get("job") if isinstance(status, dict) and status.get("launcher") == "slurm" else None
    if not isinstance(job, str):
        return False
    from .slurm import available, queue_states

    return available() and queue_states([job]).get(job) not in ("ENDED", "UNKNOWN")


def _existing_runs(folder: Path, experiment: str) -> dict[tuple[str, int], Path]:
    """(variant, seed) -> the run folder of it under `folder`: a completed one if there is one,
    else the newest (folder names sort by time)."""
    if not folder.is_dir():
        raise ConfigError(f"--continue {folder}: no such folder; give OUTPUT_DIR/EXPERIMENT, the folder that "
                          "holds the experiment's run folders")
    found: dict[tuple[str, int], Path] = {}
    for path in sorted(p for p in folder.iterdir() if is_run_folder(p)):
        record = read_run(path)
        config = record.config if isinstance(record.config, dict) else {}
        if "ensemble" in config or not isinstance(config.get("variant"), str):
            continue
        if config.get("experiment") != experiment:
            raise ConfigError(f"--continue {folder}: {path.name} is a run of experiment "
                              f"'{config.get('experiment')}', not of '{experiment}'; give this experiment's folder")
        key = (config["variant"], config.get("seed", 0))
        old = found.get(key)
        if old is None or read_run(old).state != "completed":
            found[key] = path
    return found


def write_folders(result: Plan, launcher: str) -> None:
    """Every task's folders, before anything starts: new ones get config.yaml; all are `queued`."""
    output_dir, name = result.experiment_dir.parent, result.experiment_dir.name
    result.created = not result.experiment_dir.exists()
    for task in result.tasks:
        if not task.folders:
            for spec in task.specs:
                folder = RunFolder.create(output_dir, name, spec.run_name)
                folder.write_config(dump_run_config(spec))
                task.folders.append(folder.path)
        for path in task.folders:
            RunFolder(path).set_status("queued", launcher=launcher, reason=f"queued ({launcher})")


def remove_new_folders(result: Plan) -> None:
    """Undo `write_folders` for the runs it created (a submission SLURM refused)."""
    import shutil

    if result.created:  # with the launcher's own files (.slurm/)
        shutil.rmtree(result.experiment_dir, ignore_errors=True)
    for task in result.tasks:
        if not task.resumed:
            for path in task.folders:
                shutil.rmtree(path, ignore_errors=True)
            task.folders = []
