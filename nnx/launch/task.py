"""One task of a launcher: train its prepared run folders through `runner.train_prepared`.

The same code runs in a `--jobs` process (`python -m nnx.launch.task FOLDER...`) and in a SLURM
task (`TrainTask`, which submitit pickles). A stop signal (Ctrl-C, SIGTERM, SIGUSR1, SIGUSR2) ends
the epoch, saves it and marks the run interrupted (`runner.InterruptFlag`). On SLURM, submitit's
warning before the time limit (SIGUSR2) is then handed on to submitit, which requeues the task;
the requeued task resumes the folders from their checkpoints.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import submitit

LOG = "task.log"  # a task's output, kept in each of its run folders


class TrainTask(submitit.helpers.Checkpointable):
    """A SLURM task: `checkpoint` (submitit's, inherited) resubmits it with the same folders; since
    the folders hold the checkpoints, that is all a requeued task needs."""

    def __call__(self, folders: list[str], data_dir: str | None = None, devices: str | None = None) -> list[str]:
        from ..runner import InterruptFlag

        env = submitit.JobEnvironment()
        note_start(folders, launcher="slurm", job=str(env.job_id), host=env.hostname,
                   stdout=str(env.paths.stdout), stderr=str(env.paths.stderr))
        _start_jax()
        flag = InterruptFlag(_reporter())
        try:
            statuses = _train(folders, data_dir, devices, flag)
        finally:
            keep_log(folders, [env.paths.stdout, env.paths.stderr])
        if flag.signum == getattr(signal, "SIG" + env.USR_SIG, None) and "interrupted" in statuses:
            signal.raise_signal(flag.signum)  # submitit's handler: checkpoint (this task), requeue, exit
        if flag.signum is not None and "interrupted" in statuses:
            # Stopped by SLURM (scancel, preemption): no result file, so that a requeued task runs
            # again and a waiting `nnx train` reads the run folders rather than a result.
            sys.exit(128 + flag.signum)
        return statuses


def _train(folders, data_dir, devices, flag) -> list[str]:
    from ..runner import train_prepared

    outcomes = train_prepared([Path(f) for f in folders], data_dir=data_dir, devices=devices, interrupt=flag,
                              reporter=_reporter())
    return [o.status for o in outcomes]


def _reporter():
    from ..report import ConsoleReporter

    return ConsoleReporter()


def _start_jax() -> None:
    from .. import runtime

    runtime.use_compilation_cache()


def note_start(folders, **details) -> None:
    """One line per start of a task in each of its folders (launcher.jsonl): where it ran and its logs."""
    line = json.dumps({"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "pid": os.getpid(), **details})
    for folder in folders:
        with open(Path(folder) / "launcher.jsonl", "a", encoding="utf-8") as f:
            f.write(line + "\n")


def keep_log(folders, logs) -> None:
    """Copy a task's log files (stdout, then stderr) into each of its run folders as task.log."""
    parts = []
    for log in logs:
        try:
            parts.append(Path(log).read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    if not parts:
        return
    for folder in folders:
        try:
            (Path(folder) / LOG).write_text("".join(parts), encoding="utf-8")
        except OSError:
            pass


def copy_log(source: Path, folders) -> None:
    for folder in folders:
        if Path(folder) != source.parent and source.exists():
            shutil.copyfile(source, Path(folder) / LOG)


def main(argv: list[str] | None = None) -> int:
    """A `--jobs` process: `python -m nnx.launch.task [--data-dir D] [--devices N] [--device cpu] FOLDER...`.
    The CPU cores it may use come in NNX_CPUS (set before JAX starts its thread pools)."""
    import argparse

    parser = argparse.ArgumentParser(prog="nnx.launch.task")
    parser.add_argument("--data-dir")
    parser.add_argument("--devices")
    parser.add_argument("--device", default="auto")
    parser.add_argument("folders", nargs="+")
    args = parser.parse_args(argv)
    cpus = os.environ.get("NNX_CPUS")
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    from .. import runtime
    from ..errors import NnxError
    from ..runner import InterruptFlag

    runtime.use_compilation_cache()
    runtime.select_device(args.device)
    note_start(args.folders, launcher="local", cpus=cpus, gpu=os.environ.get("CUDA_VISIBLE_DEVICES"))
    flag = InterruptFlag(_reporter())
    try:
        statuses = _train(args.folders, args.data_dir, args.devices, flag)
    except NnxError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    if "interrupted" in statuses:
        return 130
    return 0 if all(s == "completed" for s in statuses) else 1


if __name__ == "__main__":
    sys.exit(main())
