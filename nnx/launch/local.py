"""`nnx train --jobs N`: the tasks of an experiment in N processes on this machine.

Each job gets its share of the devices: on GPUs one GPU per job (CUDA_VISIBLE_DEVICES, jobs
beyond the GPU count share them), on CPU a share of the cores (its affinity, which XLA's thread
pools follow). JAX's memory preallocation is off in every job, so jobs sharing a GPU do not
each claim 75% of it. A job's output goes to task.log in its run folder. Ctrl-C (or SIGTERM)
stops starting new tasks and asks the running ones to finish their epoch and save; a second
Ctrl-C stops them at once. Either way `--continue` carries on from where they stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .monitor import Monitor
from .plan import Plan, Task
from .task import LOG, copy_log

POLL_S = 0.3
MIN_CORES = 2  # the fewest CPU cores a job is pinned to; with fewer, the jobs share all cores


@dataclass
class Slot:
    """One job's share of the machine: the environment its processes start with, and a label."""

    env: dict[str, str]
    label: str


def slots(jobs: int, gpus: list[str], cpus: list[int]) -> list[Slot]:
    """`jobs` shares of the machine: GPUs one per job (round-robin when there are more jobs than
    GPUs); otherwise the CPU cores in equal contiguous blocks of at least MIN_CORES (all cores
    shared when there are not enough)."""
    common = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    if gpus:
        return [Slot({**common, "CUDA_VISIBLE_DEVICES": gpus[i % len(gpus)]}, f"gpu {gpus[i % len(gpus)]}")
                for i in range(jobs)]
    if len(cpus) < MIN_CORES * jobs:
        # A job on one core can hang: XLA's CPU thread pool then has one thread, and the host
        # callback of the shuffle (nnx.train.shuffle) waits for it (seen with --jobs 2 on 2 cores).
        return [Slot(dict(common), "cores shared") for _ in range(jobs)]
    size, extra = divmod(len(cpus), jobs)
    blocks, start = [], 0
    for i in range(jobs):
        end = start + size + (1 if i < extra else 0)
        blocks.append(cpus[start:end])
        start = end
    return [Slot({**common, "NNX_CPUS": ",".join(map(str, b))}, f"cpus {b[0]}-{b[-1]}") for b in blocks]


def machine_slots(jobs: int) -> list[Slot]:
    """This machine's shares, from what JAX sees (the parent has JAX started, with preallocation off)."""
    import jax

    gpus = []
    if jax.default_backend() == "gpu":
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        count = jax.local_device_count()
        gpus = visible.split(",")[:count] if visible else [str(i) for i in range(count)]
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    return slots(jobs, gpus, cpus)


@dataclass
class Running:
    task: Task
    process: subprocess.Popen
    slot: int
    log: object


def run_jobs(result: Plan, jobs: int, data_dir=None, device: str = "auto", devices: str | None = None,
             monitor: Monitor | None = None, reporter=None) -> None:
    """Run the plan's tasks, at most `jobs` at once, until all have ended or a stop was asked."""
    from ..runner import InterruptFlag, SilentReporter

    shares = machine_slots(jobs)
    pending, running, free = list(result.tasks), [], list(range(len(shares)))
    monitor = monitor or Monitor("jobs", quiet=True)
    jobs_of: dict[Path, str] = {f: "waiting" for f in result.folders}
    stopping = False
    flag = InterruptFlag(reporter or SilentReporter(),
                         "the jobs finish their epoch and save")
    with flag, monitor:
        try:
            while pending or running:
                if flag() and not stopping:
                    stopping, pending = True, []
                    _signal_all(running, signal.SIGINT)
                while pending and free and not stopping:
                    task, slot = pending.pop(0), free.pop(0)
                    running.append(_start(task, slot, shares[slot], data_dir, device, devices))
                    for f in task.folders:
                        jobs_of[f] = f"pid {running[-1].process.pid}, {shares[slot].label}"
                for job in [j for j in running if j.process.poll() is not None]:
                    running.remove(job)
                    free.append(job.slot)
                    _finish(job)
                monitor.update([(f, jobs_of[f]) for f in result.folders])
                time.sleep(POLL_S)
        except KeyboardInterrupt:  # the second Ctrl-C: the jobs stop at once (their runs read interrupted)
            _signal_all(running, signal.SIGINT)
            for job in running:
                try:
                    job.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    job.process.kill()
                    job.process.wait()
                _finish(job)
            running = []
        monitor.update([(f, jobs_of[f]) for f in result.folders])


def _start(task: Task, slot: int, share: Slot, data_dir, device, devices) -> Running:
    command = [sys.executable, "-m", "nnx.launch.task", "--device", device]
    if data_dir:
        command += ["--data-dir", str(data_dir)]
    if devices:
        command += ["--devices", str(devices)]
    command += [str(f) for f in task.folders]
    log = open(task.folders[0] / LOG, "a", encoding="utf-8")
    # A session of its own: a Ctrl-C in the terminal reaches only this process, which passes it on
    # once (the job's second Ctrl-C would stop it at once, without saving its epoch).
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **share.env},
                               start_new_session=True, cwd=os.getcwd())
    return Running(task, process, slot, log)


def _finish(job: Running) -> None:
    """After a job's process ended: its log in each of its folders. A run its process left behind
    (killed, out of memory) reads `crashed` and resumes with --continue."""
    job.log.close()
    copy_log(job.task.folders[0] / LOG, job.task.folders)


def _signal_all(running: list[Running], signum) -> None:
    for job in running:
        try:
            job.process.send_signal(signum)
        except ProcessLookupError:
            pass
