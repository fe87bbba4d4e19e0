"""Checkpoints by wall time: which epochs are saved, exact resume between saves, stop signals."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from nnx.runner import InterruptFlag, SilentReporter
from nnx.train import checkpoint as ck

from .helpers import QUICK, run_cli, write_experiment
from .test_reliability import SLOW_EPOCHS, metrics_without_time, nnx, wait_for_epochs


def test_the_policy_saves_by_time_and_whenever_training_ends():
    every = 30.0
    assert not ck.should_checkpoint(1, 40, 0.5, every, stopping=False)  # a short run: not yet
    assert not ck.should_checkpoint(39, 40, 29.9, every, stopping=False)
    assert ck.should_checkpoint(40, 40, 0.5, every, stopping=False)  # the last epoch
    assert ck.should_checkpoint(7, 40, 0.5, every, stopping=True)  # early stopping, Ctrl-C, SIGTERM
    assert ck.should_checkpoint(7, 40, 30.0, every, stopping=False)  # the interval has passed
    assert ck.should_checkpoint(1, 40, 0.0, 0.0, stopping=False)  # 0: every epoch


def _count_saves(monkeypatch) -> list[tuple[int, int | None]]:
    """(epoch, best epoch saved with it) of every TrainCheckpoints.save of this process."""
    saves = []
    original = ck.TrainCheckpoints.save

    def save(self, epoch, state, record, best=None):
        saves.append((epoch, None if best is None else best[0]))
        return original(self, epoch, state, record, best)

    monkeypatch.setattr(ck.TrainCheckpoints, "save", save)
    return saves


def _steps(folder: Path) -> list[int]:
    """The complete checkpoints in an Orbax folder (a write in progress has a temporary name)."""
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []


def test_a_short_run_writes_one_checkpoint(tmp_path, capsys, monkeypatch):
    saves = _count_saves(monkeypatch)
    exp = write_experiment(tmp_path / "q.yaml", QUICK.replace("epochs: 2", "epochs: 5"))
    assert run_cli(["train", exp, "-o", tmp_path / "out", "-q"], capsys)[0] == 0
    assert saves == [(5, None)]
    (run,) = (tmp_path / "out" / "quick").iterdir()
    assert _steps(run / "checkpoints" / "last") == [5]

    saves.clear()
    assert run_cli(["train", exp, "-o", tmp_path / "every", "-q", "--set", "training.checkpoint_every_s=0"],
                   capsys)[0] == 0
    assert [epoch for epoch, _ in saves] == [1, 2, 3, 4, 5]


def test_early_stopping_saves_its_stopping_epoch_with_the_best_epoch(tmp_path, capsys, monkeypatch):
    saves = _count_saves(monkeypatch)
    # A learning rate so large the validation loss soon stops improving.
    exp = write_experiment(tmp_path / "es.yaml", QUICK.replace(
        "training: {epochs: 2,", "training: {epochs: 60, early_stopping: {monitor: validation.loss, patience: 2},")
        .replace("learning_rate: 0.003", "learning_rate: 0.05"))
    assert run_cli(["train", exp, "-o", tmp_path / "out", "-q"], capsys)[0] == 0
    (run,) = (tmp_path / "out" / "quick").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stopped_early"] and summary["epochs"] < 60
    assert saves == [(summary["epochs"], summary["best_epoch"])]
    assert _steps(run / "checkpoints" / "best") == [summary["best_epoch"]]


def _state(value: float) -> dict:
    return {"w": jnp.full((3,), value, jnp.float32)}


def test_the_best_folder_keeps_the_best_epoch_the_last_checkpoint_names(tmp_path):
    store = ck.TrainCheckpoints(tmp_path / "run" / "checkpoints")
    store.save(4, _state(4.0), {"seconds": 0.0}, best=(2, _state(2.0)))
    # A new best; a kill before the next last checkpoint would leave epoch 4's, which names 2.
    store.save(9, _state(9.0), {"seconds": 0.0}, best=(7, _state(7.0)))
    store.save(12, _state(12.0), {"seconds": 0.0}, best=(7, _state(7.0)))  # the same best: not saved again
    store.close()
    store = ck.TrainCheckpoints(tmp_path / "run" / "checkpoints")
    assert store.latest_epoch() == 12 and _steps(tmp_path / "run" / "checkpoints" / "best") == [2, 7]
    for epoch in (2, 7):
        state, record = store.restore(_state(0.0), "best", epoch=epoch)
        assert np.all(np.asarray(state["w"]) == epoch) and record["epoch"] == epoch
    assert store.restore(_state(0.0), "best", epoch=5) is None
    store.close()


def _checkpointed(run: Path) -> int:
    return max(_steps(run / "checkpoints" / "last"), default=0)


def _lines(run: Path) -> int:
    path = run / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_sigterm_saves_then_sigkill_between_checkpoints_resumes_exactly(tmp_path, capsys):
    # No save by time: the checkpoints are the SIGTERM's and the last epoch's.
    text = SLOW_EPOCHS.replace("epochs: 8", "epochs: 12") + "  checkpoint_every_s: 1000\n"
    exp = write_experiment(tmp_path / "rz.yaml", text)
    proc = nnx("train", exp, "-o", tmp_path / "out")
    run = wait_for_epochs(tmp_path / "out", 1, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "SIGTERM: finishing this epoch and saving" in err and "Traceback" not in err
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "interrupted" and status["reason"] == "interrupted by SIGTERM"
    assert status["signal"] == "SIGTERM" and status["resume"] == f"nnx train --resume {run}"
    saved = _lines(run)
    assert 1 <= saved <= 9 and _checkpointed(run) == saved  # the epoch it stopped at is saved

    # Resumed, then killed after at least one more epoch, before the next checkpoint (the last epoch's).
    proc = nnx("train", "--resume", run)
    wait_for_epochs(tmp_path / "out", saved + 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert _checkpointed(run) == saved and saved < _lines(run) < 12

    code, _, err = run_cli(["train", "--resume", run, "-q"], capsys)  # replays from the SIGTERM's epoch
    assert code == 0, err
    assert run_cli(["train", exp, "-o", tmp_path / "whole", "-q"], capsys)[0] == 0
    (whole,) = (tmp_path / "whole").glob("*/*")
    assert metrics_without_time(run) == metrics_without_time(whole)
    resumed, straight = (json.loads((r / "summary.json").read_text()) for r in (run, whole))
    assert resumed["test"] == straight["test"] and resumed["validation"] == straight["validation"]
    assert resumed["best_epoch"] == straight["best_epoch"]


class _Messages(SilentReporter):
    def __init__(self):
        self.lines = []

    def message(self, text):
        self.lines.append(text)


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="no SIGUSR1 on this system")
def test_the_interrupt_flag_takes_sigusr1_and_sigterm_once_then_ctrl_c_stops_at_once():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)}
    reporter = _Messages()
    with InterruptFlag(reporter) as flag:
        assert not flag()
        os.kill(os.getpid(), signal.SIGUSR1)
        assert flag() and flag.signal == "SIGUSR1" and flag.reason == "interrupted by SIGUSR1"
        os.kill(os.getpid(), signal.SIGTERM)  # the scheduler's next signal: nothing more
        assert flag.signal == "SIGUSR1"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert reporter.lines == ["SIGUSR1: finishing this epoch and saving"]
    assert {s: signal.getsignal(s) for s in before} == before  # the handlers are given back
