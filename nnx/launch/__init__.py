"""Launchers: the runs of an experiment in other processes, each through `runner.train_prepared`.

    plan.py      experiment (+ the folder of an earlier attempt) -> tasks: which runs to start, resume, skip
    task.py      one task: the callable a `--jobs` process or a SLURM task runs
    local.py     `--jobs N`: N processes on this machine, devices split between them
    slurm.py     `--launcher slurm`: one submitit job array per experiment
    monitor.py   the live table of the tasks' runs, read from their run folders

A launcher writes every run folder before it starts anything (config.yaml, status `queued`), so
`nnx compare` shows queued runs, a task needs nothing but its folders, and a task requeued or
started again resumes the same folders.
"""
