"""`nnx train --jobs N` and `--continue`: runs in processes of their own, and an experiment carried
on from where it stopped, with the results of `nnx train` in one process."""

import json
import os
import signal

import pytest

from nnx.launch.local import slots

from .helpers import run_cli, run_folders, write_experiment
from .launch_helpers import SIX, epochs, results


@pytest.mark.parametrize("args, says", [
    (["--jobs", "0"], "--jobs 0: give the number of runs to train at once, 1 or more"),
    (["--jobs", "-2"], "--jobs -2: give the number of runs"),
    (["--wait"], "--wait is for --launcher slurm"),
    (["--launcher", "slurm", "--jobs", "2"], "--jobs is for the local launcher"),
    (["--jobs", "2", "--resume", "somewhere"], "--resume trains one run folder"),
])
def test_launcher_options_that_do_not_make_sense_are_one_line_and_exit_2(tmp_path, capsys, args, says):
    path = write_experiment(tmp_path / "six.yaml", SIX)
    code, out, err = run_cli(["train", path, "-o", tmp_path / "out", *args], capsys)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_continue_needs_the_experiment_file_and_an_existing_folder(tmp_path, capsys):
    code, _, err = run_cli(["train", "--continue", tmp_path], capsys)
    assert code == 2 and "give the EXPERIMENT_FILE too" in err
    path = write_experiment(tmp_path / "six.yaml", SIX)
    code, _, err = run_cli(["train", path, "--continue", tmp_path / "nowhere"], capsys)
    assert code == 2 and "no such folder" in err and len(err.strip().splitlines()) == 1


def test_jobs_split_gpus_one_each_and_cpu_cores_in_blocks_of_two_or_more():
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in slots(3, ["0", "1"], [0, 1])] == ["0", "1", "0"]
    assert [s.env["NNX_CPUS"] for s in slots(2, [], [0, 1, 2, 3, 4])] == ["0,1,2", "3,4"]
    # Never one core alone (XLA's one-thread pool and the shuffle's host callback can hang): shared.
    assert [s.env.get("NNX_CPUS") for s in slots(2, [], [0, 1])] == [None, None]
    assert all(s.env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false" for s in slots(2, ["0"], [0]))


def test_two_jobs_train_every_run_in_its_own_process_with_the_results_of_one_process(tmp_path, capsys,
                                                                                   six_reference):
    path = write_experiment(tmp_path / "six.yaml", SIX)
    code, out, err = run_cli(["train", path, "-o", tmp_path / "out", "--jobs", "2", "--only", "a"], capsys)
    assert code == 0, err
    runs = run_folders(tmp_path / "out")
    assert len(runs) == 2
    pids = {json.loads((r / "launcher.jsonl").read_text())["pid"] for r in runs}
    assert len(pids) == 2 and os.getpid() not in pids  # one process per run, not this one
    got = results(tmp_path / "out" / "six")
    assert got == {k: v for k, v in six_reference.items() if k[0] == "a"}
    assert "task.log" in {p.name for p in runs[0].iterdir()} and "test error" in out


def test_continue_skips_completed_runs_resumes_the_interrupted_one_and_starts_the_rest(tmp_path, capsys,
                                                                                     six_reference):
    from nnx.config import parse_experiment
    from nnx.runner import SilentReporter, run_experiment

    class CtrlCInB(SilentReporter):  # Ctrl-C during the first epoch of b-seed0
        def epoch_ended(self, spec, record):
            if spec.variant == "b" and record.epoch == 1:
                os.kill(os.getpid(), signal.SIGINT)

    out = tmp_path / "out"
    outcomes = run_experiment(parse_experiment(SIX), output_dir=out, reporter=CtrlCInB())
    assert [o.status for o in outcomes] == ["completed", "completed", "interrupted"]
    before = {r.name: r for r in run_folders(out)}
    interrupted = next(r for r in before.values() if r.name.endswith("b-seed0"))
    assert epochs(interrupted) == [1]

    path = write_experiment(tmp_path / "six.yaml", SIX)
    code, _, err = run_cli(["train", path, "--continue", out / "six", "--dry-run"], capsys)
    assert code == 0 and "2 completed (skipped)" in _ and f"resume {interrupted.name}" in _
    code, _, err = run_cli(["train", path, "--continue", out / "six"], capsys)
    assert code == 0, err
    assert "2 completed, 1 to resume, 3 to start" in err
    after = run_folders(out)
    assert len(after) == 6 and set(before) <= {r.name for r in after}  # the same folders, three new
    assert epochs(interrupted) == [1, 2, 3]
    assert results(out / "six") == six_reference  # exactly: resume is exact at an epoch boundary

    code, _, err = run_cli(["train", path, "--continue", out / "six"], capsys)
    assert code == 0 and "6 completed, 0 to resume, 0 to start" in err and len(run_folders(out)) == 6


def test_continue_refuses_a_folder_of_another_experiment_and_a_changed_config(tmp_path, capsys):
    from nnx.config import parse_experiment
    from nnx.record import RunFolder

    out = tmp_path / "out"
    spec = parse_experiment(SIX, overrides=["training.epochs=1"]).runs[0]
    folder = RunFolder.create(out, "six", spec.run_name)
    from nnx.config import dump_run_config

    folder.write_config(dump_run_config(spec))
    folder.set_status("interrupted")
    path = write_experiment(tmp_path / "six.yaml", SIX)
    code, _, err = run_cli(["train", path, "--continue", out / "six"], capsys)
    assert code == 2 and "was made with another config (training.epochs: 1 -> 3)" in err and "--force" in err
    other = write_experiment(tmp_path / "other.yaml", SIX.replace("name: six", "name: other"))
    code, _, err = run_cli(["train", other, "--continue", out / "six"], capsys)
    assert code == 2 and "is a run of experiment 'six', not of 'other'" in err
    assert len(run_folders(out)) == 1


def test_sigterm_and_sigusr1_stop_a_run_as_ctrl_c_does_and_the_old_handlers_come_back():
    from nnx.runner import InterruptFlag, SilentReporter

    before = signal.getsignal(signal.SIGTERM)
    for signum in (signal.SIGTERM, signal.SIGUSR1):
        with InterruptFlag(SilentReporter()) as flag:
            os.kill(os.getpid(), signum)
            assert flag() and flag.signum == signum
    assert signal.getsignal(signal.SIGTERM) is before


def test_ctrl_c_stops_every_job_says_how_to_continue_and_continue_finishes_exactly(tmp_path, six_reference):
    import subprocess
    import sys
    import time

    path = write_experiment(tmp_path / "six.yaml", SIX)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "nnx", "train", str(path), "-o", str(out), "--jobs", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not any(json.loads((r / "status.json").read_text())["status"] == "running"
                  for r in run_folders(out) if (r / "status.json").exists()):
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() else "slow"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert f"continue with: nnx train {path} --continue {out / 'six'} --jobs 2" in err
    states = [json.loads((r / "status.json").read_text())["status"] for r in run_folders(out)]
    assert len(states) == 6 and "queued" in states and "running" not in states
    code = subprocess.run([sys.executable, "-m", "nnx", "train", str(path), "--continue", str(out / "six"), "-q"],
                          capture_output=True, text=True).returncode
    assert code == 0
    assert results(out / "six") == six_reference
