"""Reliability through real `nnx` processes: SIGKILL and resume, Ctrl-C, NaN, concurrent runs, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import QUICK, run_cli, write_experiment

# Epochs long enough (tens of ms) that a kill lands inside one.
SLOW_EPOCHS = """
name: rz
data: {name: digits}
model: {type: mlp, hidden: [256, 256], dropout: 0.2}
training:
  epochs: 8
  batch_size: 8
  optimizer: {name: adam, learning_rate: 0.001}
  early_stopping: {monitor: validation.accuracy, patience: 20}
"""


def nnx(*args, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "nnx", *map(str, args)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def wait_for_epochs(out: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> Path:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for metrics in out.glob("*/*/metrics.jsonl"):
            if len(metrics.read_text().splitlines()) >= n:
                return metrics.parent
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("training did not reach the epoch in time")


def metrics_without_time(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path, capsys):
    # Killed before its first checkpoint (saved by time: none within 1000 s), it starts again from
    # epoch 1; tests/test_checkpoints.py kills a run between two checkpoints.
    exp = write_experiment(tmp_path / "rz.yaml", SLOW_EPOCHS + "  checkpoint_every_s: 1000\n")
    proc = nnx("train", exp, "-o", tmp_path / "killed")
    run = wait_for_epochs(tmp_path / "killed", 3, proc)
    time.sleep(0.03)  # inside the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert json.loads((run / "status.json").read_text())["status"] == "running"
    assert not (run / "summary.json").exists()
    assert not [p for p in (run / "checkpoints" / "last").glob("*") if p.name.isdigit()]

    code, _, err = run_cli(["train", "--resume", run, "-q"], capsys)
    assert code == 0, err
    assert run_cli(["train", exp, "-o", tmp_path / "whole", "-q"], capsys)[0] == 0
    (whole,) = (tmp_path / "whole").glob("*/*")
    assert metrics_without_time(run) == metrics_without_time(whole)
    assert [m["epoch"] for m in metrics_without_time(run)] == list(range(1, 9))
    resumed, straight = (json.loads((r / "summary.json").read_text()) for r in (run, whole))
    assert resumed["test"] == straight["test"] and resumed["validation"] == straight["validation"]
    assert resumed["best_epoch"] == straight["best_epoch"]

    # Resuming a completed run does nothing and says so.
    code, _, err = run_cli(["train", "--resume", run], capsys)
    assert code == 0 and "already completed" in err


def test_resume_refuses_a_changed_config_unless_forced(tmp_path, capsys):
    exp = write_experiment(tmp_path / "rz.yaml", SLOW_EPOCHS)
    proc = nnx("train", exp, "-o", tmp_path / "out")
    run = wait_for_epochs(tmp_path / "out", 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    code, _, err = run_cli(["train", "--resume", run, "--set", "training.epochs=3"], capsys)
    assert code == 2 and "--force" in err and "training.epochs" in err
    code, _, err = run_cli(["train", "--resume", run, "--set", "training.epochs=3", "--force", "-q"], capsys)
    assert code == 0, err
    assert json.loads((run / "summary.json").read_text())["epochs"] == 3


def test_ctrl_c_finishes_the_epoch_saves_and_exits_130(tmp_path, capsys):
    exp = write_experiment(tmp_path / "rz.yaml", SLOW_EPOCHS)
    proc = nnx("train", exp, "-o", tmp_path / "out")
    run = wait_for_epochs(tmp_path / "out", 1, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "nnx train --resume" in err and "Traceback" not in err
    assert (out + err).count("nnx train --resume") == 1, out + err  # said once, after the table
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "interrupted" and "resume" in status
    epochs = [m["epoch"] for m in metrics_without_time(run)]
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) < 8
    (run / "preprocessing.json").unlink()  # as in a folder of an older nnx: the resume writes it
    assert run_cli(["train", "--resume", run, "-q"], capsys)[0] == 0
    assert [m["epoch"] for m in metrics_without_time(run)] == list(range(1, 9))
    assert json.loads((run / "preprocessing.json").read_text())["kind"] == "image"


def test_nan_loss_fails_the_run_keeps_the_others_and_exits_1(tmp_path, capsys):
    text = QUICK + """
variants:
  absurd: {training: {optimizer: {name: sgd, learning_rate: 1.0e+30}}}
  fine:
"""
    exp = write_experiment(tmp_path / "nan.yaml", text)
    code, out, err = run_cli(["train", exp, "-o", tmp_path / "out"], capsys)
    assert code == 1 and "Traceback" not in err
    runs = {p.name.split("-", 2)[2]: p for p in (tmp_path / "out" / "quick").iterdir()}
    failed = json.loads((runs["absurd"] / "status.json").read_text())
    assert failed["status"] == "failed" and "epoch 1" in failed["reason"] and "learning_rate" in failed["reason"]
    assert json.loads((runs["fine"] / "status.json").read_text())["status"] == "completed"


def test_two_concurrent_runs_get_two_intact_folders(tmp_path):
    exp = write_experiment(tmp_path / "q.yaml", QUICK)
    procs = [nnx("train", exp, "-o", tmp_path / "out", "-q") for _ in range(2)]
    for proc in procs:
        proc.communicate(timeout=300)
        assert proc.returncode == 0
    runs = sorted((tmp_path / "out" / "quick").iterdir())
    assert len(runs) == 2
    for run in runs:
        assert json.loads((run / "summary.json").read_text())["epochs"] == 2


@pytest.mark.parametrize("content", [
    "data: {name: digits}\nmodel: {type: mlp, hidden: [8]}\ntraining: {batch_size: 0}\n",
    "data: {name: digits}\nmodel: {type: mlp, hidden: [8], dropout: 1.0}\n",
    "data: {name: digits}\nmodel: {type: mlp, hidden: [0]}\n",
    "data: {name: digits}\nmodel: {type: mlp}\ntraining: {optimizer: {learning_rate: -0.1}}\n",
    "data: {name: digits}\nmodel: {type: mlp}\ntraining: {epochs: [1, 2]}\n",
    "",
    "data: {name: digits\n",
    "\x00\x01\x02binary",
    "!!python/object/apply:os.system ['echo unsafe']\n",
])
def test_bad_experiment_files(tmp_path, capsys, content):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content.encode("latin-1"))
    code, _, err = run_cli(["train", path, "-o", tmp_path / "out"], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("config.yaml"))


def test_a_folder_instead_of_a_file(tmp_path, capsys):
    code, _, err = run_cli(["train", tmp_path], capsys)
    assert code == 2 and "is a folder" in err


def test_unwritable_output_folder(tmp_path, capsys):
    if os.geteuid() == 0:
        target = Path("/proc/nnx-cannot-write-here")  # root can write anywhere else
    else:
        target = tmp_path / "ro"
        target.mkdir()
        target.chmod(0o500)
    exp = write_experiment(tmp_path / "q.yaml", QUICK)
    code, _, err = run_cli(["train", exp, "-o", target], capsys)
    assert code == 2 and "--output-dir" in err and "Traceback" not in err


def test_a_file_where_the_experiment_folder_goes_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "quick").write_text("not a folder")
    code, _, err = run_cli(["train", write_experiment(tmp_path / "q.yaml", QUICK), "-o", tmp_path / "out"], capsys)
    assert code == 2 and "is a file" in err and "Traceback" not in err, err


def test_seeds_and_names_outside_what_folders_and_keys_take_are_config_errors(tmp_path, capsys):
    exp = write_experiment(tmp_path / "q.yaml", QUICK)
    for args, fragment in ((["--seed", "-1"], "--seed -1"), (["--seed", str(2**64)], "from 0 to 4294967295"),
                           (["--set", "seed=-1"], "--set seed=-1"), (["--set", "name=" + "x" * 300], "at most 100")):
        code, _, err = run_cli(["train", exp, "-o", tmp_path / "out", *args], capsys)
        assert code == 2 and fragment in err and "Traceback" not in err, (args, err)
    assert not (tmp_path / "out").exists()


def test_corrupted_data_file_names_file_and_expected_sum(tmp_path, capsys, real_data_dir):
    import shutil

    local = tmp_path / "data" / "mnist"
    local.mkdir(parents=True)
    for f in (real_data_dir / "mnist").iterdir():
        shutil.copy(f, local / f.name)
    blob = (local / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (local / "t10k-labels-idx1-ubyte.gz").write_bytes(blob[: len(blob) // 2])
    exp = write_experiment(tmp_path / "m.yaml", QUICK.replace("digits", "mnist"))
    code, _, err = run_cli(["train", exp, "-o", tmp_path / "out", "--data-dir", tmp_path / "data"], capsys)
    assert code == 2 and "t10k-labels-idx1-ubyte.gz" in err and "f7ae60f92e00ec6d" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("config.yaml"))


def test_ctrl_c_with_parallel_seeds_stops_them_and_names_the_runs_not_started(tmp_path):
    text = SLOW_EPOCHS.replace("  early_stopping: {monitor: validation.accuracy, patience: 20}\n", "").replace(
        "epochs: 8", "epochs: 40") + "seeds: 2\nvariants:\n  a: {training: {parallel_seeds: true}}\n  b:\n"
    proc = nnx("train", write_experiment(tmp_path / "ps.yaml", text), "-o", tmp_path / "out")
    wait_for_epochs(tmp_path / "out", 1, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "nnx train --resume" in err and "not started: b-seed0, b-seed1" in err, err  # each seed resumes
    runs = sorted((tmp_path / "out" / "rz").iterdir())
    assert len(runs) == 2  # the two seeds of a; b never started
    for run in runs:
        assert json.loads((run / "status.json").read_text())["status"] == "interrupted"
        assert 1 <= len((run / "metrics.jsonl").read_text().splitlines()) < 40


def _finished_run(tmp_path, capsys) -> Path:
    path = write_experiment(tmp_path / "q.yaml", QUICK)
    assert run_cli(["train", path, "-o", tmp_path / "out", "-q"], capsys)[0] == 0
    (run,) = (tmp_path / "out" / "quick").iterdir()
    return run


def test_resume_refuses_a_run_that_is_still_running(tmp_path, capsys):
    import socket

    run = _finished_run(tmp_path, capsys)
    (run / "summary.json").unlink()  # as if still training, in this (live) process
    (run / "status.json").write_text(json.dumps({"status": "running", "pid": os.getpid(),
                                                 "host": socket.gethostname()}))
    code, _, err = run_cli(["train", "--resume", run], capsys)
    assert code == 2 and "still running" in err and f"pid {os.getpid()}" in err, err
    assert json.loads((run / "status.json").read_text())["status"] == "running"  # untouched


def test_resume_refuses_fewer_epochs_than_done_and_options_it_would_ignore(tmp_path, capsys):
    run = _finished_run(tmp_path, capsys)
    (run / "summary.json").unlink()
    (run / "status.json").write_text(json.dumps({"status": "interrupted"}))
    code, _, err = run_cli(["train", "--resume", run, "--set", "training.epochs=1", "--force"], capsys)
    assert code == 2 and "fewer than the 2 epochs already done" in err, err
    for option in (["--seed", "3"], ["--only", "a"], ["-o", tmp_path / "elsewhere"]):
        code, _, err = run_cli(["train", "--resume", run, *option], capsys)
        assert code == 2 and "cannot be used with --resume" in err, (option, err)
    before = (run / "metrics.jsonl").read_text()
    code, out, _ = run_cli(["train", "--resume", run, "--dry-run"], capsys)
    assert code == 0 and "interrupted, 2 of 2 epochs recorded" in out
    assert (run / "metrics.jsonl").read_text() == before and not (run / "summary.json").exists()
