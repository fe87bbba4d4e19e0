"""`nnx train --launcher slurm`: one submitit job array per experiment, one task per run (or per
variant whose seeds train together), with the resources of the experiment's `launcher:` section.

submitit writes the sbatch script, pickles `TrainTask` with each task's run folders, and keeps
its files (scripts, pickles, logs) in OUTPUT/EXPERIMENT/.slurm/<job id>/. A task warned before
its time limit (SIGUSR2) saves its epoch and is requeued by submitit, at most
`launcher.max_requeues` times; a preempted or requeued task (SIGTERM) saves its epoch, and SLURM
starts it again; either way the new start resumes the same folders from their checkpoints.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import time

from ..config import LauncherSpec
from ..errors import ConfigError
from .monitor import Monitor
from .plan import Plan, remove_new_folders
from .task import TrainTask, keep_log

FOLDER = ".slurm"
POLL_S = 1.0


def available() -> bool:
    return shutil.which("sbatch") is not None


def parameters(spec: LauncherSpec, experiment: str) -> dict:
    """submitit's SlurmExecutor parameters for `spec` (only those set: SLURM's defaults otherwise)."""
    given = {"partition": spec.partition, "cpus_per_task": spec.cpus_per_task, "gpus_per_task": spec.gpus_per_task,
             "mem": spec.mem}
    return {"job_name": f"nnx-{experiment}", "time": spec.time_min, "array_parallelism": spec.array_parallelism,
            "signal_delay_s": spec.signal_delay_s, "setup": list(spec.setup),
            "additional_parameters": dict(spec.sbatch), **{k: v for k, v in given.items() if v is not None}}


def submit(result: Plan, spec: LauncherSpec, experiment: str, data_dir=None, devices: str | None = None) -> list:
    """Submit the plan's tasks as one array; its folders say `queued` with their job id. A
    submission SLURM refuses (an unknown partition, an option sbatch rejects) removes the run
    folders it made and is a ConfigError with sbatch's own message."""
    import submitit

    if not available():
        raise ConfigError("--launcher slurm: sbatch not found; run on a SLURM login node "
                          "(or start scripts/slurm_local.sh for a one-machine cluster)")
    executor = submitit.SlurmExecutor(folder=result.experiment_dir / FOLDER / "%j", max_num_timeout=spec.max_requeues)
    try:
        executor.update_parameters(**parameters(spec, experiment))
    except ValueError as e:
        remove_new_folders(result)
        raise ConfigError(f"launcher: {e}") from None
    folders = [[str(f) for f in task.folders] for task in result.tasks]
    refused = io.StringIO()
    try:
        with contextlib.redirect_stderr(refused), contextlib.redirect_stdout(io.StringIO()):
            jobs = executor.map_array(TrainTask(), folders, [str(data_dir) if data_dir else None] * len(folders),
                                      [devices] * len(folders))
    except (submitit.core.utils.FailedJobError, subprocess.CalledProcessError, OSError) as e:
        remove_new_folders(result)
        raise ConfigError(f"--launcher slurm: SLURM refused the job array: {_first_line(e, refused.getvalue())}; "
                          "fix the launcher: section (or --set launcher.KEY=VALUE)") from None
    from ..record import RunFolder

    for task, job in zip(result.tasks, jobs):
        for folder in task.folders:
            RunFolder(folder).set_status("queued", launcher="slurm", job=str(job.job_id),
                                         reason=f"queued: SLURM job {job.job_id}")
    return jobs


def _first_line(error: Exception, stderr: str) -> str:
    for text in (str(error), stderr):
        for line in text.splitlines():
            line = line.strip()
            if line:
                return line.removeprefix("sbatch: error: ")
    return type(error).__name__


def queue_states(job_ids: list[str]) -> dict[str, str]:
    """job id -> its state in SLURM's queue (PENDING, RUNNING, ...); a job absent from it has ended."""
    if not job_ids:
        return {}
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T", "-j", ",".join(job_ids)], capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {j: "UNKNOWN" for j in job_ids}
    states = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    return {j: states.get(j, "ENDED") for j in job_ids}


def _left_behind(folders, job_id: str) -> None:
    """A task that left SLURM's queue with its runs still queued or running (its setup lines
    failed, it was killed, its node went down): those runs are marked failed, naming its log."""
    from ..record import RunFolder, read_run

    for folder in folders:  # nnx compare names the task's log beside the reason
        if read_run(folder).state in ("queued", "running", "crashed"):
            RunFolder(folder).set_status("failed", reason=f"SLURM task {job_id} ended before its run did")


def wait(jobs: list, result: Plan, monitor: Monitor, timeout_s: float | None = None) -> None:
    """Until every task has left SLURM's queue (or has its result file), showing the runs' table.
    Each ended task's log is copied into its run folders (the copy the task made itself misses
    the lines submitit writes after it). Ctrl-C stops waiting; the tasks go on."""
    ids = [str(j.job_id) for j in jobs]
    folders_of = {str(j.job_id): t.folders for j, t in zip(jobs, result.tasks)}
    ended: set[str] = set()
    start = time.monotonic()
    with monitor:
        try:
            while len(ended) < len(ids):
                states = queue_states([i for i in ids if i not in ended])
                for job in jobs:
                    jid = str(job.job_id)
                    if jid in ended:
                        continue
                    if states.get(jid) == "ENDED" or job.paths.result_pickle.exists():
                        ended.add(jid)
                        keep_log(folders_of[jid], [job.paths.stdout, job.paths.stderr])
                        _left_behind(folders_of[jid], jid)
                monitor.update([(f, f"slurm {jid} {states.get(jid, 'ENDED').lower()}") for jid in ids
                                for f in folders_of[jid]])
                if timeout_s is not None and time.monotonic() - start > timeout_s:
                    break
                if len(ended) < len(ids):
                    time.sleep(POLL_S)
        except KeyboardInterrupt:
            monitor.message("stopped waiting; the SLURM tasks go on (nnx compare shows them)")
            raise
