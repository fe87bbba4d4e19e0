"""`nnx train --launcher slurm` against a real SLURM cluster (scripts/slurm_local.sh start; .ci/run
starts one): the same results as one process, a task warned and requeued mid-run resumes exactly,
a task that fails keeps its log and `nnx compare` names it, a bad option is one line."""

import json
import shutil
import subprocess
import time

import pytest

from .helpers import run_cli, write_experiment
from .launch_helpers import SIX, epochs, reference, results, runs_of

pytestmark = pytest.mark.skipif(shutil.which("sbatch") is None,
                                reason="no sbatch: SLURM is not installed (apt-get install slurmctld slurmd "
                                       "slurm-client munge; scripts/slurm_local.sh start)")

LONG = """
name: long
data: {name: digits, validation_split: 0.2}
model: {type: mlp, hidden: [16]}
training: {epochs: 40, batch_size: 16, optimizer: {name: adam, learning_rate: 0.001}}
"""


@pytest.fixture(scope="module", autouse=True)
def cluster():
    probe = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    if probe.returncode != 0 or not probe.stdout.strip():
        pytest.fail(f"sbatch is installed but no SLURM cluster answers ({probe.stderr.strip()}); "
                    "start one with: scripts/slurm_local.sh start")


def test_a_six_run_sweep_through_slurm_gives_the_results_of_one_process(tmp_path, capsys, six_reference):
    path = write_experiment(tmp_path / "six.yaml", SIX)
    code, out, err = run_cli(["train", path, "-o", tmp_path / "out", "--launcher", "slurm", "--wait"], capsys)
    assert code == 0, err
    assert "submitted SLURM job array" in err
    runs = runs_of(tmp_path / "out")
    assert len(runs) == 6
    jobs = {json.loads((r / "launcher.jsonl").read_text().splitlines()[-1])["job"] for r in runs}
    assert len(jobs) == 6 and len({j.split("_")[0] for j in jobs}) == 1  # one array, one task per run
    assert results(tmp_path / "out" / "six") == six_reference


def test_a_task_warned_mid_run_saves_its_epoch_is_requeued_and_ends_as_if_uninterrupted(tmp_path, tmp_path_factory):
    from nnx.config import parse_experiment
    from nnx.launch.experiment import launch_experiment
    from nnx.launch.monitor import Monitor
    from nnx.launch.plan import Plan, Task
    from nnx.launch.slurm import wait

    expected = reference(tmp_path_factory, LONG, "long")
    launched = launch_experiment(parse_experiment(LONG), tmp_path / "out", launcher="slurm")
    (job,), (run,) = launched.jobs, launched.folders
    deadline = time.monotonic() + 300
    while not ((run / "metrics.jsonl").exists() and len(epochs(run)) >= 2):
        assert time.monotonic() < deadline, "the task did not start training"
        time.sleep(0.1)
    # What SLURM sends before a time limit (submitit's --signal=USR2@...): the run ends its epoch,
    # saves it, and submitit requeues the task.
    subprocess.run(["scancel", "--signal=USR2", str(job.job_id)], check=True)
    requeued = False
    while not requeued:
        assert time.monotonic() < deadline, "the task was not requeued"
        starts = (run / "launcher.jsonl").read_text().splitlines()
        requeued = len(starts) >= 2
        # A requeued job waits for a begin time SLURM sets (about 2 minutes); start it now.
        subprocess.run(["scontrol", "update", f"jobid={job.job_id}", "StartTime=now"], capture_output=True)
        time.sleep(0.5)
    plan = Plan([Task([], [run])], run.parent)
    wait([job], plan, Monitor("long", quiet=True), timeout_s=300)
    assert json.loads((run / "status.json").read_text())["status"] == "completed"
    assert epochs(run) == list(range(1, 41))  # each epoch once: the requeued task went on after the saved one
    assert results(tmp_path / "out" / "long") == expected  # exactly


def test_a_failed_task_keeps_its_log_in_the_run_folder_and_compare_names_it(tmp_path, capsys):
    text = SIX.replace("seeds: 2", "seeds: 1") + "launcher: {setup: ['echo the setup of this task failed >&2', 'exit 3']}\n"
    path = write_experiment(tmp_path / "six.yaml", text)
    code, out, err = run_cli(["train", path, "-o", tmp_path / "out", "--only", "a", "--launcher", "slurm", "--wait"],
                             capsys)
    assert code == 1, err
    (run,) = runs_of(tmp_path / "out")
    assert "the setup of this task failed" in (run / "task.log").read_text()
    from nnx.compare.read import read_one

    assert read_one(run).reason == f"SLURM task {_job(run)} ended before its run did; log: {run / 'task.log'}"
    code, out, err = run_cli(["compare", tmp_path / "out"], capsys)
    assert code == 0 and "failed" in out and "ended before its run did; log:" in " ".join(out.split())


def _job(run):
    return json.loads((run / "status.json").read_text())["reason"].split()[2]


def test_a_partition_slurm_does_not_have_is_one_line_exit_2_and_leaves_no_folder(tmp_path, capsys):
    path = write_experiment(tmp_path / "six.yaml", SIX)
    code, out, err = run_cli(["train", path, "-o", tmp_path / "out", "--launcher", "slurm",
                              "--set", "launcher.partition=nosuchpartition"], capsys)
    assert code == 2 and "SLURM refused the job array" in err and "partition" in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out" / "six").exists()
