"""`nnx ensemble`: averaging trained networks' predictions; and the MLP's linear skip."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx

from nnx.compare import read_one
from nnx.ensemble import combine, shared_config
from nnx.models.mlp import MLP
from nnx.train import tasks

from .helpers import QUICK, run_cli, run_folders, write_experiment

NYSE = """
name: ens
seeds: 3
data: {name: nyse, day_of_week: true, validation_split: 0.2}
model: {type: mlp, hidden: [8], dropout: 0.5, linear_skip: true}
training: {epochs: 3, batch_size: 64, optimizer: {name: rmsprop, learning_rate: 0.001}}
"""

DIGITS = QUICK + "seeds: 2\n"  # a classifier, each seed with its own random validation split


def _train(tmp_path, capsys, text: str, name: str = "e.yaml") -> list[Path]:
    out = tmp_path / "out"
    before = set(run_folders(out)) if out.exists() else set()
    code, _, err = run_cli(["train", write_experiment(tmp_path / name, text), "-o", out, "-q"], capsys)
    assert code == 0, err
    return sorted(set(run_folders(out)) - before)


# --------------------------------------------------------------------------------------------
# Combining outputs


def test_regression_ensemble_is_the_mean_output():
    outputs = [np.array([[1.0], [2.0]]), np.array([[3.0], [6.0]])]
    np.testing.assert_allclose(combine(outputs, "regression"), [[2.0], [4.0]])


def test_classifier_ensemble_averages_probabilities_not_logits():
    rng = np.random.default_rng(0)
    logits = [rng.normal(size=(5, 4)) * 3 for _ in range(3)]
    probs = [np.exp(z) / np.exp(z).sum(-1, keepdims=True) for z in logits]
    out = combine(logits, "classification")
    np.testing.assert_allclose(np.exp(out), np.mean(probs, axis=0), rtol=1e-12)
    # Averaging logits instead would give another distribution: the test can tell them apart.
    mean_logits = np.mean(logits, axis=0)
    assert not np.allclose(np.exp(out), np.exp(mean_logits) / np.exp(mean_logits).sum(-1, keepdims=True))


def test_binary_ensemble_averages_sigmoid_probabilities():
    logits = [np.array([[2.0], [-1.0], [40.0]]), np.array([[0.0], [-3.0], [50.0]])]
    p = np.mean([1 / (1 + np.exp(-z)) for z in logits], axis=0)
    out = combine(logits, "binary")
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(1 / (1 + np.exp(-out[:2])), p[:2], rtol=1e-9)


def test_score_matches_numpy_formulas():
    y = np.array([1.0, 2.0, 4.0], np.float32)
    out = np.array([[1.5], [2.0], [3.0]])
    m = tasks.score(tasks.REGRESSION, out, y)
    assert m["mse"] == pytest.approx(np.mean((out[:, 0] - y) ** 2))
    assert m["r2"] == pytest.approx(1 - np.sum((out[:, 0] - y) ** 2) / np.sum((y - y.mean()) ** 2))


# --------------------------------------------------------------------------------------------
# The MLP's linear skip


def test_linear_skip_starts_at_zero_and_adds_a_linear_map_of_the_inputs():
    x = np.random.default_rng(0).normal(size=(7, 6)).astype(np.float32)
    plain = MLP(6, [4], 1, rngs=nnx.Rngs(0))
    skip = MLP(6, [4], 1, linear_skip=True, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(skip(x), plain(x), rtol=1e-6)  # the same network at the start
    kernel = np.arange(6, dtype=np.float32)[:, None] / 10
    skip.skip.kernel[...] = kernel
    np.testing.assert_allclose(skip(x), plain(x) + x @ kernel, rtol=1e-5, atol=1e-6)
    count = lambda m: sum(a.size for a in jax.tree.leaves(nnx.state(m, nnx.Param)))  # noqa: E731
    assert count(skip) - count(plain) == 6  # a kernel only: the output layer's bias is the intercept


def test_predict_pads_the_last_batch_and_returns_every_row():
    from nnx.data.base import DataInfo
    from nnx.models import Network, family

    model = MLP(3, [4], 2, rngs=nnx.Rngs(1))
    x = np.random.default_rng(1).normal(size=(10, 3)).astype(np.float32)
    wrapped = Network(model, family("mlp"), None, DataInfo((3,), "classification", 2))
    np.testing.assert_allclose(wrapped.predict(x, batch_size=4), model(x), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------
# The command


def test_ensemble_of_seeds_writes_a_run_folder_that_compare_shows(tmp_path, capsys):
    members = _train(tmp_path, capsys, NYSE)
    assert len(members) == 3
    code, out, err = run_cli(["ensemble", *members], capsys)  # by default, beside its members
    assert code == 0, err
    (folder,) = [p for p in run_folders(tmp_path / "out") if p not in members]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["variant"] == "default-ensemble" and summary["model"] == "ensemble of 3 mlp"
    assert json.loads((folder / "status.json").read_text())["status"] == "completed"
    # Each member, scored again from its saved model, gives what training recorded.
    for member, recorded in zip(summary["members"], members):
        saved = json.loads((recorded / "summary.json").read_text())
        assert member["test"]["mse"] == pytest.approx(saved["test"]["mse"], rel=1e-4)
    # The mean prediction's squared error is at most the members' mean (Jensen): averaging, not summing.
    member_mse = [m["test"]["mse"] for m in summary["members"]]
    assert summary["test"]["mse"] <= np.mean(member_mse) + 1e-9
    assert summary["test"]["mse"] < min(member_mse) * 1.5
    # The validation days are the same for every member (chronological), so they are scored too.
    assert "r2" in summary["validation"]
    run = read_one(folder)
    assert run.variant == "default-ensemble" and run.metrics["test.r2"] == pytest.approx(summary["test"]["r2"])
    ensemble_row = next(line for line in out.splitlines() if "default-ensemble" in line)
    assert "size" in out and "│ 3 " in ensemble_row, out  # what differs: the ensemble.size column
    code, _, err = run_cli(["train", "--resume", folder], capsys)
    assert code == 2 and "nothing to train" in err


def test_classifier_seeds_with_random_validation_splits_report_test_only(tmp_path, capsys):
    members = _train(tmp_path, capsys, DIGITS)
    code, _, err = run_cli(["ensemble", *members, "-o", tmp_path / "out"], capsys)
    assert code == 0, err
    (folder,) = [p for p in run_folders(tmp_path / "out") if p not in members]
    summary = json.loads((folder / "summary.json").read_text())
    # Each seed drew its own validation examples: no shared validation set to score.
    assert summary["validation"] == {} and 0.5 < summary["test"]["accuracy"] <= 1.0


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, list[Path]]:
    """Runs trained once for the bad-input cases: two seeds, one on other data, one estimator."""
    from nnx.cli import main

    root = tmp_path_factory.mktemp("trained")
    texts = {
        "seeds": NYSE.replace("seeds: 3", "seeds: 2"),
        "other_data": NYSE.replace("seeds: 3", "seeds: 1").replace("day_of_week: true", "day_of_week: false"),
        "estimator": NYSE.replace("seeds: 3", "seeds: 1").replace(
            "model: {type: mlp, hidden: [8], dropout: 0.5, linear_skip: true}", "model: {type: linear_regression}"),
    }
    runs = {}
    for name, text in texts.items():
        out = root / name
        try:
            main(["train", str(write_experiment(root / f"{name}.yaml", text)), "-o", str(out), "-q"])
        except SystemExit as e:
            assert e.code in (0, None)
        runs[name] = run_folders(out)
    return runs


@pytest.mark.parametrize("case, fragment", [
    ("one", "at least two"),
    ("twice", "given twice"),
    ("not_a_run", "not a run folder"),
    ("experiment_folder", "give those"),
    ("other_data", "data section differs"),
    ("estimator", "no network to average"),
    ("unfinished", "not completed"),
    ("ensemble", "ensemble itself"),
    ("damaged_model", "could not be read"),
    ("copy", "the same run as"),
    ("no_config", "no config.yaml"),
    ("bad_summary", "summary.json"),
    ("running", "still running"),
    ("lone_experiment_folder", "give those"),
    ("output_is_a_file", "output"),
])
def test_bad_members_are_one_line_errors_and_write_nothing(tmp_path, capsys, trained, case, fragment):
    members = trained["seeds"]
    args = {
        "one": members[:1],
        "twice": [members[0], members[0]],
        "not_a_run": [members[0], tmp_path],
        "experiment_folder": [members[0], members[0].parent],
        "other_data": [members[0], *trained["other_data"]],
        "estimator": [members[0], *trained["estimator"]],
    }.get(case)
    if case in ("unfinished", "damaged_model", "copy", "no_config", "bad_summary", "running"):
        broken = tmp_path / "copy" / members[1].name  # a damaged copy; the shared runs stay intact
        shutil.copytree(members[0] if case == "copy" else members[1], broken)
        if case in ("unfinished", "running"):
            (broken / "summary.json").unlink()
            status = {"status": "interrupted"} if case == "unfinished" else \
                {"status": "running", "pid": os.getpid(), "host": socket.gethostname()}
            (broken / "status.json").write_text(json.dumps(status))
        elif case == "damaged_model":
            shutil.rmtree(broken / "checkpoint" / "model")
            (broken / "checkpoint" / "model").mkdir()
        elif case == "no_config":
            (broken / "config.yaml").unlink()
        elif case == "bad_summary":
            (broken / "summary.json").write_text("{")
        args = [members[0], broken]
    if case == "lone_experiment_folder":
        args = [members[0].parent]
    output = tmp_path / "out"
    if case == "output_is_a_file":
        args, output = members, tmp_path / "file" / "sub"
        output.parent.write_text("")
    if case == "ensemble":
        assert run_cli(["ensemble", *members, "-o", tmp_path / "made"], capsys)[0] == 0
        args = [members[0], *run_folders(tmp_path / "made")]
    code, out, err = run_cli(["ensemble", *args, "-o", output], capsys)
    assert code == 2 and fragment in err, err
    # One line, and before any member is scored (minutes, for a large network); a damaged model
    # shows only when it is read.
    lines = [line for line in err.strip().splitlines() if not line.startswith("scoring")]
    assert "Traceback" not in err and len(lines) == 1
    assert case == "damaged_model" or "scoring" not in err
    assert not (tmp_path / "out").exists() or run_folders(tmp_path / "out") == []


def test_shared_config_keeps_the_keys_every_member_agrees_on():
    configs = [{"seed": 0, "model": {"hidden": [8], "dropout": 0.5}, "data": {"lags": 5}},
               {"seed": 1, "model": {"hidden": [8], "dropout": 0.3}, "data": {"lags": 5}},
               {"seed": 2, "model": {"hidden": [8]}, "data": {"lags": 5}}]
    assert shared_config(configs) == {"model": {"hidden": [8]}, "data": {"lags": 5}}


def test_ctrl_c_between_members_writes_nothing(tmp_path, trained):
    from nnx.ensemble import ensemble

    polls = []

    def stop_after_first():
        polls.append(1)
        return True

    with pytest.raises(KeyboardInterrupt):
        ensemble(trained["seeds"], output_dir=tmp_path / "out", should_stop=stop_after_first)
    assert polls == [1] and run_folders(tmp_path / "out") == []
