"""Issue 23's run-time findings, each reproduced: what used to surface only after data loading and
a run folder (or never) is now a one-line error at load time, and the run-time failures that
remain (divergence, Ctrl-C) leave a readable folder and say how to continue."""

from __future__ import annotations

import json
import os
import re
import signal

import pytest

from .helpers import QUICK, run_cli, run_folders, write_experiment


def _train(tmp_path, capsys, *args, text=QUICK):
    path = write_experiment(tmp_path / "quick.yaml", text)
    return run_cli(["train", path, "-o", tmp_path / "out", *args], capsys)


def _one_line_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("override,expected", [
    # 4: a misspelt monitor used to fail every run in turn with "no metric 'acuracy'"
    ("training.early_stopping.monitor=validation.acuracy",
     r"no metric 'validation.acuracy' \(did you mean 'validation.accuracy'\?\)"),
    ("training.early_stopping.monitor=test.loss", r"must start with 'validation.' or 'train.'"),
    # 9: accepted silently before
    ("training.batch_size=5000", r"training.batch_size 5000 is larger than the 1150 training examples"),
    ("data.train_subset=99999", r"data.train_subset 99999 is more than the 1,438 training examples"),
    ("data.train_subset=2", r"data.validation_split 0.2 of 2 training examples holds out none"),
])
def test_problems_found_at_load_time_with_the_command_line_named(tmp_path, capsys, override, expected):
    for extra in (["--dry-run"], []):
        code, _, err = _train(tmp_path, capsys, "--set", override, *extra)
        line = _one_line_error(err)
        assert code == 2 and line.startswith(f"error: --set {override}: "), line
        assert re.search(expected, line), line
    assert not (tmp_path / "out").exists()  # 8: nothing written, not even an empty folder


def test_a_validation_monitor_without_a_validation_split_points_at_the_file(tmp_path, capsys):
    text = QUICK.replace("validation_split: 0.2", "validation_split: 0").replace(
        "learning_rate: 0.003}}", "learning_rate: 0.003}, early_stopping: {monitor: validation.loss}}")
    code, _, err = _train(tmp_path, capsys, "--dry-run", text=text)
    assert code == 2 and "quick.yaml:6: training.early_stopping.monitor is validation.loss but " \
                          "data.validation_split is 0" in _one_line_error(err)


def test_a_warm_up_longer_than_training_is_refused(tmp_path, capsys):
    code, _, err = _train(tmp_path, capsys, "--set", "training.optimizer.schedule={name: warmup_cosine, warmup_epochs: 5}")
    assert code == 2 and "warmup_epochs 5 is not shorter than training.epochs 2" in _one_line_error(err)


def test_a_missing_data_folder_leaves_no_empty_output_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NNX_DATA_DIR", raising=False)
    text = QUICK.replace("name: digits", "name: mnist")
    code, _, err = _train(tmp_path, capsys, "--data-dir", tmp_path / "nothing-here", text=text)
    assert code == 2 and "missing data file" in _one_line_error(err)
    assert not (tmp_path / "out").exists()


def test_a_diverging_run_fails_before_it_reaches_nan(tmp_path, capsys):
    # 7: learning rate 1e6 used to end "completed" with a training loss of 2e20 and 9% accuracy.
    code, _, err = _train(tmp_path, capsys, "--set", "training.optimizer.learning_rate=1e6", "-q")
    assert code == 1 and "diverged" in err and "training.divergence_factor" in err, err
    (folder,) = run_folders(tmp_path / "out")
    status = json.loads((folder / "status.json").read_text())
    assert status["status"] == "failed" and "at epoch 1" in status["reason"]
    assert (folder / "config.yaml").is_file() and not (folder / "summary.json").exists()
    # The rule can be turned off, and then the run completes however badly.
    assert _train(tmp_path, capsys, "--set", "training.optimizer.learning_rate=1e6",
                  "--set", "training.divergence_factor=null", "-q")[0] in (0, 1)


def test_ctrl_c_in_the_last_epoch_stops_the_experiment(tmp_path, capsys, monkeypatch):
    # 5: Ctrl-C during a run's last epoch used to let the next variant start.
    from nnx import report

    text = QUICK + "variants:\n  first: {}\n  second: {}\n"
    original = report.ConsoleReporter.epoch_ended

    def interrupt_in_last_epoch(self, spec, record):
        original(self, spec, record)
        if spec.variant == "first" and record.epoch == spec.training.epochs:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C would, while the epoch's work ends

    monkeypatch.setattr(report.ConsoleReporter, "epoch_ended", interrupt_in_last_epoch)
    code, out, err = _train(tmp_path, capsys, text=text)
    assert code == 130, err
    assert "not started: second" in err
    (folder,) = run_folders(tmp_path / "out")
    assert folder.name.endswith("-first")
    assert json.loads((folder / "status.json").read_text())["status"] == "completed"  # its last epoch ran


def test_a_parallel_seed_interrupted_by_ctrl_c_resumes_alone_to_its_sequential_result(tmp_path, capsys, monkeypatch):
    # One training path: the seeds trained together checkpoint each epoch into their own folders,
    # and each folder resumes as a plain run (before, parallel seeds could not resume at all).
    from nnx import report

    body = QUICK.replace("epochs: 2", "epochs: 4") + "seeds: 2\n"
    together = body.replace("epochs: 4,", "epochs: 4, parallel_seeds: true,")
    original = report.ConsoleReporter.epoch_ended

    def interrupt_after_epoch_2(self, spec, record):
        original(self, spec, record)
        if record.epoch == 2 and spec.seed == 1:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(report.ConsoleReporter, "epoch_ended", interrupt_after_epoch_2)
    code, _, err = _train(tmp_path, capsys, text=together)
    assert code == 130, err
    monkeypatch.setattr(report.ConsoleReporter, "epoch_ended", original)
    folders = {p.name.rsplit("-", 1)[1]: p for p in run_folders(tmp_path / "out")}
    for folder in folders.values():
        assert json.loads((folder / "status.json").read_text())["status"] == "interrupted"
        assert len((folder / "metrics.jsonl").read_text().splitlines()) == 2
    code, _, err = run_cli(["train", "--resume", folders["seed1"], "-q"], capsys)
    assert code == 0, err
    resumed = json.loads((folders["seed1"] / "summary.json").read_text())
    alone = write_experiment(tmp_path / "alone.yaml", body.replace("name: quick", "name: alone"))
    assert run_cli(["train", alone, "-o", tmp_path / "alone_out", "-q", "--seed", "1"], capsys)[0] == 0
    (seed1,) = [p for p in run_folders(tmp_path / "alone_out") if p.name.endswith("seed1")]
    sequential = json.loads((seed1 / "summary.json").read_text())
    assert resumed["epochs"] == sequential["epochs"] == 4
    assert resumed["test"]["loss"] == pytest.approx(sequential["test"]["loss"], rel=2e-3)


def test_an_unscaled_regression_target_is_not_taken_for_a_divergence(tmp_path, capsys):
    # y around 37: a network starting near 0 has a first-epoch loss of about 37**2, far above the
    # targets' variance; the rule measures against all-zero outputs, so this run trains.
    rows = "".join(f"{37 + i % 5}.0,{i % 7}\n" for i in range(200))
    (tmp_path / "reg.csv").write_text("y,x\n" + rows)
    text = ("data: {name: table, path: reg.csv, target: y}\nmodel: {type: mlp, hidden: [16]}\n"
            "training: {epochs: 3, batch_size: 32, optimizer: {name: adam, learning_rate: 0.01}}\n")
    code, _, err = _train(tmp_path, capsys, "-q", text=text)
    assert code == 0, err


def test_one_diverging_seed_among_seeds_trained_together_fails_alone(tmp_path, capsys, monkeypatch):
    from nnx.errors import RunError
    from nnx.train import loop

    original = loop.check_divergence

    def seed_0_diverges(loss, epoch, trainee, name_seed, baseline):
        if trainee.spec.seed == 0 and epoch == 2:
            raise RunError("the training diverged of seed 0 at epoch 2 (simulated)")
        original(loss, epoch, trainee, name_seed, baseline)

    monkeypatch.setattr(loop, "check_divergence", seed_0_diverges)
    text = QUICK.replace("epochs: 2,", "epochs: 3, parallel_seeds: true,") + "seeds: 2\n"
    code, _, err = _train(tmp_path, capsys, "-q", text=text)
    assert code == 1 and "run default-seed0 failed: the training diverged of seed 0" in err, err
    status = {p.name.rsplit("-", 1)[1]: json.loads((p / "status.json").read_text())["status"]
              for p in run_folders(tmp_path / "out")}
    assert status == {"seed0": "failed", "seed1": "completed"}
    seed1 = [p for p in run_folders(tmp_path / "out") if p.name.endswith("seed1")][0]
    assert json.loads((seed1 / "summary.json").read_text())["epochs"] == 3


def test_an_infinite_value_in_a_table_is_a_load_time_error(tmp_path, capsys):
    (tmp_path / "inf.csv").write_text("y,x\n1.0,2\n2.0,inf\n3.0,1\n4.0,5\n5.0,3\n")
    text = ("data: {name: table, path: inf.csv, target: y, validation_split: 0}\nmodel: {type: mlp, hidden: [4]}\n"
            "training: {epochs: 1, batch_size: 2}\n")
    code, _, err = _train(tmp_path, capsys, text=text)
    assert code == 2 and "column 'x' has an infinite value (inf) at row 2 (line 3)" in _one_line_error(err)
    assert not (tmp_path / "out").exists()
