"""`nnx show RUN`: a run's basics and what a classifier gets wrong (classification.json), on small runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnx.models import load_run_dataset
from nnx.show import confusion

from .helpers import QUICK, run_cli, run_folders, write_experiment

PNG = b"\x89PNG\r\n\x1a\n"


def _train(tmp_path: Path, capsys, text: str, *extra) -> list[Path]:
    out = tmp_path / "out"
    before = set(run_folders(out)) if out.exists() else set()
    code, _, err = run_cli(["train", write_experiment(tmp_path / "e.yaml", text), "-o", out, "-q", *extra], capsys)
    assert code == 0, err
    return sorted(set(run_folders(out)) - before)


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory) -> list[Path]:
    """Two seeds of the quick digits MLP, trained once (together, vectorized: each seed's record is
    of its own weights) for the tests that only read them."""
    from nnx.config import parse_experiment
    from nnx.runner import run_experiment

    text = QUICK.replace("epochs: 2,", "epochs: 2, parallel_seeds: true,") + "seeds: 2\n"
    outcomes = run_experiment(parse_experiment(text), tmp_path_factory.mktemp("show") / "out")
    assert [o.status for o in outcomes] == ["completed", "completed"]
    return [o.folder for o in outcomes]


@pytest.fixture
def digits_run(digits_runs, tmp_path) -> Path:
    """A copy of one of them, for a test to change."""
    import shutil

    return Path(shutil.copytree(digits_runs[0], tmp_path / "run" / digits_runs[0].name))


def _saved(run: Path) -> dict:
    return json.loads((run / confusion.FILE).read_text())


def _test_labels(run: Path) -> np.ndarray:
    return load_run_dataset(run).y_test


def _assert_consistent(record: dict, summary: dict, y_test: np.ndarray) -> None:
    """The done-when property: row sums are the test split's class counts; the diagonal is the
    recorded accuracy times the number of test examples, exactly."""
    matrix = np.asarray(record["confusion"])
    k = len(record["classes"])
    np.testing.assert_array_equal(matrix.sum(axis=1), np.bincount(y_test, minlength=k))
    assert int(np.trace(matrix)) == round(summary["test"]["accuracy"] * len(y_test))
    assert [r["support"] for r in record["per_class"]] == np.bincount(y_test, minlength=k).tolist()


# --------------------------------------------------------------------------------------------
# The record itself


def test_report_on_a_hand_counted_example():
    # True 0 0 1 1 2 2; predicted 0 1 1 1 2 0.
    logits = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 4.0
    record = confusion.report("classification", logits, np.array([0, 0, 1, 1, 2, 2]), ["a", "b", "c"])
    assert record["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert record["classes"] == ["a", "b", "c"] and record["accuracy"] == pytest.approx(4 / 6)
    by_class = {r["class"]: r for r in record["per_class"]}
    assert by_class["a"]["precision"] == pytest.approx(0.5) and by_class["a"]["recall"] == pytest.approx(0.5)
    assert by_class["b"]["precision"] == pytest.approx(2 / 3) and by_class["b"]["recall"] == 1.0
    assert by_class["c"]["f1"] == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert {(m["index"], m["true"], m["predicted"]) for m in record["mistakes"]} == {(1, 0, 1), (5, 2, 0)}
    assert confusion.most_confused(record) == [("a", "b", 1), ("c", "a", 1)]


def test_mistakes_are_the_surest_wrong_predictions_first():
    logits = np.array([[0.0, 3.0], [0.0, 1.0], [5.0, 0.0], [0.0, 8.0], [2.0, 0.0]])
    mistakes = confusion.confident_mistakes("classification", logits, np.array([0, 0, 0, 1, 1]), keep=10)
    assert [m["index"] for m in mistakes] == [0, 4, 1]  # p(predicted) 0.95, 0.88, 0.73
    assert mistakes[0]["probability"] == pytest.approx(1 / (1 + np.exp(-3.0)))
    assert confusion.confident_mistakes("classification", logits, np.array([0, 0, 0, 1, 1]), keep=1)[0]["index"] == 0


def test_binary_predictions_are_a_positive_logit_and_carry_roc_auc():
    logits = np.array([[-2.0], [0.5], [1.5], [-0.1]])
    record = confusion.report("binary", logits, np.array([0, 0, 1, 1]))
    assert record["confusion"] == [[1, 1], [1, 1]] and record["classes"] == ["0", "1"]
    assert record["roc_auc"] == pytest.approx(0.75)  # positives 1.5, -0.1 against negatives -2, 0.5


# --------------------------------------------------------------------------------------------
# Written at the end of training


def test_a_classifier_run_records_its_confusion_matrix_and_show_prints_it(digits_runs, capsys):
    for seed_run in digits_runs:
        _assert_consistent(_saved(seed_run), json.loads((seed_run / "summary.json").read_text()),
                           _test_labels(seed_run))
    run = digits_runs[0]
    summary = json.loads((run / "summary.json").read_text())
    record = _saved(run)
    assert record["classes"] == [str(i) for i in range(10)]
    code, out, err = run_cli(["show", run], capsys)
    assert code == 0, err
    assert "status" in out and "completed" in out and "accuracy" in out and "2 epochs" in out
    assert "confusion matrix" in out and "precision" in out and "macro mean" in out
    assert "computed now" not in out
    assert f"{summary['test']['accuracy']:.2%}" in out
    code, out, _ = run_cli(["show", run, "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["classification"]["confusion"] == record["confusion"]


def test_show_draws_the_matrix_and_the_mistakes_of_an_image_run(digits_runs, tmp_path, capsys):
    run = digits_runs[1]
    code, _, err = run_cli(["show", run, "--plot", tmp_path / "confusion.png", "--plot", tmp_path / "mistakes.png",
                            "--mistakes", "9"], capsys)
    assert code == 0, err
    for name in ("confusion.png", "mistakes.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG), name
        assert name in err


def test_a_run_without_classification_json_is_scored_again_from_its_model(digits_run, capsys):
    run = digits_run
    recorded = _saved(run)
    (run / confusion.FILE).unlink()  # as a run folder written before this file existed
    code, out, err = run_cli(["show", run, "--format", "json"], capsys)
    assert code == 0, err
    shown = json.loads(out)
    assert shown["computed_now"] is True
    assert shown["classification"]["confusion"] == recorded["confusion"]
    assert not (run / confusion.FILE).exists()  # show writes nothing into the run folder


def test_a_binary_run_records_roc_auc_equal_to_the_summary(tmp_path, capsys):
    text = ("name: b\ndata: {name: synthetic, separable: false, distance: 1.0, test_size: 300}\n"
            "model: {type: mlp, hidden: [8]}\n"
            "training: {epochs: 2, batch_size: 32, optimizer: {name: adam, learning_rate: 0.01}}\n")
    (run,) = _train(tmp_path, capsys, text)
    summary = json.loads((run / "summary.json").read_text())
    record = _saved(run)
    _assert_consistent(record, summary, _test_labels(run))
    assert record["roc_auc"] == pytest.approx(summary["test"]["auc"], abs=1e-9)
    code, out, _ = run_cli(["show", run], capsys)
    assert code == 0 and "ROC AUC" in out


def test_a_table_classifier_names_its_classes_and_has_no_mistakes_picture(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = [(["red", "green", "blue"][i % 3], float(i % 3) + rng.normal(0, 0.3), rng.normal()) for i in range(150)]
    (tmp_path / "colors.csv").write_text("colour,x,z\n" + "".join(f"{c},{x:.3f},{z:.3f}\n" for c, x, z in rows))
    text = ("name: t\ndata: {name: table, path: colors.csv, target: colour}\nmodel: {type: lda}\n")
    (run,) = _train(tmp_path, capsys, text)
    record = _saved(run)
    assert record["classes"] == ["blue", "green", "red"]  # the training part's values, sorted
    _assert_consistent(record, json.loads((run / "summary.json").read_text()), _test_labels(run))
    code, out, _ = run_cli(["show", run], capsys)
    assert code == 0 and "green" in out and "closed form" in out
    shown = out
    code, out, err = run_cli(["show", run, "--plot", tmp_path / "mistakes.png"], capsys)
    assert code == 2 and "not images" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "mistakes.png").exists()
    # Without classification.json, a closed-form model (it keeps no weights) is fitted again on its
    # training data, deterministically: the same matrix; with its data gone no run can: one line says which.
    (run / confusion.FILE).unlink()
    code, again, err = run_cli(["show", run], capsys)
    assert code == 0 and "computed now" in again and set(shown.splitlines()) <= set(again.splitlines()), err
    (tmp_path / "colors.csv").unlink()
    code, out, err = run_cli(["show", run], capsys)
    assert code == 2 and out == "" and "could not be loaded" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_an_ensemble_records_what_it_gets_wrong(digits_runs, tmp_path, capsys):
    runs = digits_runs
    code, _, err = run_cli(["ensemble", *runs, "-o", tmp_path / "ens"], capsys)
    assert code == 0, err
    (folder,) = run_folders(tmp_path / "ens")
    summary = json.loads((folder / "summary.json").read_text())
    record = _saved(folder)
    _assert_consistent(record, summary, _test_labels(runs[0]))
    code, out, err = run_cli(["show", folder, "--plot", tmp_path / "mistakes.png"], capsys)
    assert code == 0 and "members" in out and "confusion matrix" in out, err
    assert (tmp_path / "mistakes.png").read_bytes().startswith(PNG)
    (folder / confusion.FILE).unlink()  # an ensemble written before the file: scored again from its members
    code, out, err = run_cli(["show", folder, "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["classification"]["confusion"] == record["confusion"]
    # ... unless its members are gone: one line names the missing member.
    summary["members"][0]["run"] = str(tmp_path / "moved")
    (folder / "summary.json").write_text(json.dumps(summary))
    code, out, err = run_cli(["show", folder], capsys)
    assert code == 2 and out == "" and "members could not be scored again" in err and "moved" in err, err
    assert len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------------------------
# Bad input: one line, exit 2


def _one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err


def test_a_regression_run_shows_its_basics_and_says_confusion_is_for_classifiers(tmp_path, capsys):
    text = "name: r\ndata: {name: hitters}\nmodel: {type: linear_regression}\n"
    (run,) = _train(tmp_path, capsys, text)
    assert not (run / confusion.FILE).exists()
    code, out, err = run_cli(["show", run], capsys)
    assert code == 0, err
    assert "r2" in out and "applies to classifiers" in out
    code, _, err = run_cli(["show", run, "--plot", tmp_path / "confusion.png"], capsys)
    _one_line_error(code, err, "applies to classifiers")


def test_show_refuses_what_is_not_a_run_folder(tmp_path, capsys):
    _one_line_error(*run_cli(["show", tmp_path / "nowhere"], capsys)[::2], "no such run folder")
    (tmp_path / "empty").mkdir()
    _one_line_error(*run_cli(["show", tmp_path / "empty"], capsys)[::2], "not a run folder")


def test_show_of_an_experiment_folder_names_a_run_in_it(digits_runs, capsys):
    run = digits_runs[-1]
    _one_line_error(*run_cli(["show", run.parent], capsys)[::2], "not a run folder", str(run))


def test_show_of_a_failed_run_says_why_in_one_line(tmp_path, capsys, monkeypatch):
    from nnx.errors import RunError
    from nnx.train import loop

    def diverges(*args, **kwargs):
        raise RunError("the training diverged at epoch 1 (simulated)")

    monkeypatch.setattr(loop, "check_divergence", diverges)
    out = tmp_path / "out"
    code, _, err = run_cli(["train", write_experiment(tmp_path / "e.yaml", QUICK), "-o", out, "-q"], capsys)
    assert code == 1, err
    (run,) = run_folders(out)
    _one_line_error(*run_cli(["show", run], capsys)[::2], "failed", "diverged", "no test results")


def test_an_unwritable_or_misnamed_plot_path_is_one_line(digits_runs, tmp_path, capsys):
    run = digits_runs[0]
    _one_line_error(*run_cli(["show", run, "--plot", tmp_path / "missing" / "confusion.png"], capsys)[::2],
                    "does not exist")
    _one_line_error(*run_cli(["show", run, "--plot", tmp_path / "picture.png"], capsys)[::2],
                    "'confusion'", "'mistakes'")
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "confusion.png").mkdir()  # a folder where the file would go
    _one_line_error(*run_cli(["show", run, "--plot", tmp_path / "ro" / "confusion.png"], capsys)[::2],
                    "is a folder")


def test_show_of_a_recorded_run_never_imports_jax(digits_runs):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    code = ("import sys; from nnx.cli import main\n"
            "try:\n    main(['show', sys.argv[1]])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'jax' not in sys.modules, 'jax was imported'\n")
    result = subprocess.run([sys.executable, "-c", code, str(digits_runs[0])], cwd=root, capture_output=True,
                            text=True, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "macro mean" in result.stdout
